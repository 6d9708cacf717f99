"""Delivery receipts: the SMSC's word on what became of a message memoguard sent.

A receipt arrives as a deliver_sm whose esm_class says so (or that carries receipted_message_id). It
says which message and what state in optional parameters (receipted_message_id, message_state,
network_error_code), in its text (SMPP 3.4 appendix B: ``id:… sub:… dlvrd:… submit date:YYMMDDhhmm
done date:YYMMDDhhmm stat:DELIVRD err:000 text:…``), or both; the parameters win where both speak.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import datetime

from memoguard.adapters.smpp import pdu
from memoguard.adapters.smpp.udh import UDHI

STATES = ("ENROUTE", "DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD")
# message_state values 1 to 8, in the order of STATES (SMPP 3.4 §5.2.28).
_BY_VALUE = dict(enumerate(STATES, start=1))
# Spellings some SMSCs use in the text instead of appendix B's seven letters.
_ALIASES = {
    "DELIVERED": "DELIVRD",
    "UNDELIVERABLE": "UNDELIV",
    "UNDELIVERED": "UNDELIV",
    "REJECTED": "REJECTD",
    "ACCEPTED": "ACCEPTD",
    "DELETED": "DELETED",
    "EXPIRED": "EXPIRED",
}
_NETWORKS = {1: "ANSI-136", 2: "IS-95", 3: "GSM"}

_KEY = re.compile(r"(?i)(?<![a-z])(id|sub|dlvrd|submit date|done date|stat|err|text):")
_RECEIPT_KINDS = (0x04, 0x20)  # SMSC delivery receipt, intermediate delivery notification


class ReceiptError(ValueError):
    """A delivery receipt that cannot be read; the message says what is missing or wrong."""


@dataclass(frozen=True)
class ReceiptText:
    """The fields of a receipt's text. Dates are as the SMSC wrote them, in its own unstated time zone."""

    id: str
    state: str
    error: str | None
    submitted: datetime | None
    done: datetime | None
    text: str


@dataclass(frozen=True)
class ParsedReceipt:
    message_id: str
    state: str
    error: str | None


def is_receipt(message: pdu.DeliverSm) -> bool:
    return message.esm_class & 0x3C in _RECEIPT_KINDS or pdu.RECEIPTED_MESSAGE_ID in message.tlvs


def parse_text(text: str) -> ReceiptText:
    """Read the appendix B receipt text. Keys are case-insensitive; ``text:`` runs to the end."""
    fields: dict[str, str] = {}
    matches = list(_KEY.finditer(text))
    for index, match in enumerate(matches):
        key = match.group(1).lower()
        if key == "text":
            fields[key] = text[match.end() :]
            break
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        fields.setdefault(key, text[match.end() : end].strip())
    if not fields.get("id"):
        raise ReceiptError(f"delivery receipt without an id: {text!r}")
    if "stat" not in fields:
        raise ReceiptError(f"delivery receipt without a stat: {text!r}")
    return ReceiptText(
        id=fields["id"],
        state=state_name(fields["stat"]),
        error=_error(fields.get("err")),
        submitted=_date(fields.get("submit date"), "submit date"),
        done=_date(fields.get("done date"), "done date"),
        text=fields.get("text", ""),
    )


def state_name(value: str) -> str:
    upper = value.strip().upper()
    if upper in STATES:
        return upper
    if upper in _ALIASES:
        return _ALIASES[upper]
    raise ReceiptError(f"unknown delivery receipt state {value!r}: expected one of {', '.join(STATES)}")


def _error(value: str | None) -> str | None:
    if value is None or value.strip("0 ") == "":
        return None  # err:000 is the absence of an error
    return value


def _date(value: str | None, what: str) -> datetime | None:
    if value is None or value == "":
        return None
    # Appendix B says YYMMDDhhmm; many SMSCs add the seconds.
    shape = {10: "%y%m%d%H%M", 12: "%y%m%d%H%M%S"}.get(len(value))
    try:
        if shape is None or not value.isdigit():
            raise ValueError
        return datetime.strptime(value, shape)
    except ValueError:
        raise ReceiptError(f"invalid {what} {value!r}: expected YYMMDDhhmm or YYMMDDhhmmss") from None


def parse(message: pdu.DeliverSm) -> ParsedReceipt:
    """What a receipt deliver_sm says, from its optional parameters and, where they are silent, its text."""
    tlv_id = message.tlv_text(pdu.RECEIPTED_MESSAGE_ID)
    tlv_state = message.tlv_int(pdu.MESSAGE_STATE)
    tlv_error = _network_error(message.tlvs.get(pdu.NETWORK_ERROR_CODE))
    if tlv_id and tlv_state is not None:
        text_error = None
        # The parameters said all that matters: a text in some other format does not spoil them.
        with contextlib.suppress(ReceiptError):
            text_error = parse_text(_text(message)).error if tlv_error is None else None
        return ParsedReceipt(tlv_id, _BY_VALUE.get(tlv_state, "UNKNOWN"), tlv_error or text_error)
    parsed = parse_text(_text(message))
    state = _BY_VALUE.get(tlv_state, "UNKNOWN") if tlv_state is not None else parsed.state
    return ParsedReceipt(tlv_id or parsed.id, state, tlv_error or parsed.error)


def _text(message: pdu.DeliverSm) -> str:
    body = message.short_message or message.tlvs.get(pdu.MESSAGE_PAYLOAD, b"")
    if message.esm_class & UDHI and body:
        body = body[1 + body[0] :]
    # Receipt texts are ASCII whatever data_coding says; reading them as GSM-7 would turn "_" into "§".
    if message.data_coding == 0x08:
        return body.decode("utf-16-be", errors="replace")
    return body.decode("latin-1")


def _network_error(value: bytes | None) -> str | None:
    """network_error_code: a network type octet then a two-octet error code; zero means no error."""
    if value is None or len(value) != 3:
        return None
    code = int.from_bytes(value[1:], "big")
    if code == 0:
        return None
    return f"{_NETWORKS.get(value[0], f'network {value[0]}')}:{code}"
