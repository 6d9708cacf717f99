"""SMPP addresses: a number or a name with its type of number (TON) and numbering plan (NPI)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from memoguard.config.schema import SmppSource

UNKNOWN = 0
INTERNATIONAL = 1
ALPHANUMERIC = 5
ISDN = 1  # the E.164 numbering plan

_NUMBER = re.compile(r"\+?[0-9]{2,20}")


@dataclass(frozen=True)
class Address:
    address: str
    ton: int
    npi: int


def source(settings: SmppSource | None) -> Address:
    """The sender of outgoing messages, as SmppSource's docstring defines it; none leaves it to the SMSC."""
    if settings is None:
        return Address("", UNKNOWN, UNKNOWN)
    text = settings.address
    if any(char.isalpha() for char in text):
        ton, npi = ALPHANUMERIC, UNKNOWN
    elif text.startswith("+"):
        ton, npi, text = INTERNATIONAL, ISDN, text[1:]  # SMPP numbers never carry the "+"
    else:
        ton, npi = UNKNOWN, ISDN
    return Address(
        text,
        settings.ton if settings.ton is not None else ton,
        settings.npi if settings.npi is not None else npi,
    )


def destination(phone: str) -> Address | None:
    """An E.164 number ("+33612345678") as an international address; a number without "+" goes as
    dialled (TON unknown). None when ``phone`` is not a number at all."""
    compact = re.sub(r"[\s.()-]", "", phone)
    if not _NUMBER.fullmatch(compact):
        return None
    if compact.startswith("+"):
        return Address(compact[1:], INTERNATIONAL, ISDN)
    return Address(compact, UNKNOWN, ISDN)


def sender(address: str, ton: int) -> str:
    """The sender of an incoming message as memoguard compares numbers: E.164 with its "+" when the
    network says the number is international."""
    if ton == INTERNATIONAL and address and not address.startswith("+"):
        return "+" + address
    return address
