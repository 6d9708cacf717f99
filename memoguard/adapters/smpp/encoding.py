"""Text to SMS and back: the GSM 03.38 default alphabet or UCS-2, split into parts, decoded on arrival.

A text goes out in GSM-7 (data_coding 0) when every character is in the default alphabet or its
extension table, else in UCS-2 (data_coding 8, UTF-16BE). GSM-7 travels unpacked, one septet per octet,
as SMPP does for data_coding 0; an extension character is the escape 0x1B then its code, two septets.

Limits (3GPP TS 23.040): one part holds 160 septets or 70 UTF-16 code units; parts of a longer text
lose room to the 6-octet concatenation header and hold 153 septets or 67 units. A split falls between
characters, never inside an escape pair or a surrogate pair.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM = 0x00
IA5 = 0x01
OCTETS = 0x02
LATIN1 = 0x03
BINARY = 0x04
CYRILLIC = 0x06
HEBREW = 0x07
UCS2 = 0x08

ESCAPE = 0x1B
MAX_PARTS = 255  # the concatenation header counts parts in one octet

# TS 23.038 §6.2.1, by code 0x00 to 0x7F. 0x1B is the escape, never a character of its own.
_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# TS 23.038 §6.2.1.1, the extension table reached through the escape.
_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D, "]": 0x3E}
_EXTENSION |= {"|": 0x40, "€": 0x65}

_TO_BASIC = {char: code for code, char in enumerate(_BASIC) if code != ESCAPE}
_FROM_EXTENSION = {code: char for char, code in _EXTENSION.items()}


@dataclass(frozen=True)
class Limits:
    single: int  # units in a message sent whole
    part: int  # units in each part of a concatenated message


GSM_LIMITS = Limits(single=160, part=153)
UCS2_LIMITS = Limits(single=70, part=67)


@dataclass(frozen=True)
class Encoded:
    """A text ready to send: its data_coding and the payload of each part (without any header)."""

    data_coding: int
    parts: tuple[bytes, ...]


class MessageTooLong(ValueError):
    """More parts than a concatenation header can number."""


def is_gsm(text: str) -> bool:
    """Whether ``text`` fits the GSM 03.38 default alphabet and its extension table."""
    return all(char in _TO_BASIC or char in _EXTENSION for char in text)


def septets(text: str) -> int:
    """How many septets ``text`` takes in GSM-7 (extension characters count two)."""
    return sum(2 if char in _EXTENSION else 1 for char in text)


def encode(text: str) -> Encoded:
    """Choose the alphabet, then split ``text`` into parts that each fit one SMS."""
    if is_gsm(text):
        units = [_gsm_char(char) for char in text]
        return Encoded(GSM, _split(units, GSM_LIMITS))
    # One unit per character: a character outside the BMP is its whole surrogate pair, so it cannot be cut.
    units = [char.encode("utf-16-be") for char in text]
    return Encoded(UCS2, _split(units, UCS2_LIMITS, width=2))


def _gsm_char(char: str) -> bytes:
    code = _TO_BASIC.get(char)
    if code is not None:
        return bytes((code,))
    return bytes((ESCAPE, _EXTENSION[char]))


def _split(units: list[bytes], limits: Limits, width: int = 1) -> tuple[bytes, ...]:
    """Pack encoded characters into parts; ``width`` is the octets per counted unit (2 for UTF-16)."""
    total = sum(len(unit) for unit in units) // width
    if total <= limits.single:
        return (b"".join(units),)
    parts: list[bytes] = []
    current: list[bytes] = []
    used = 0
    for unit in units:
        size = len(unit) // width
        if used + size > limits.part:
            parts.append(b"".join(current))
            current, used = [], 0
        current.append(unit)
        used += size
    parts.append(b"".join(current))
    if len(parts) > MAX_PARTS:
        raise MessageTooLong(f"the text needs {len(parts)} SMS parts, more than the {MAX_PARTS} an SMS can have")
    return tuple(parts)


def decode_gsm(data: bytes) -> str:
    """Unpacked GSM-7, one septet per octet, with escapes. Octets above 0x7F cannot be GSM-7: such a
    payload is Latin-1 from an SMSC whose default alphabet is not GSM, and is read as such."""
    if any(octet > 0x7F for octet in data):
        return data.decode("latin-1")
    chars: list[str] = []
    escaped = False
    for octet in data:
        if escaped:
            escaped = False
            # TS 23.038: an escape to a code the extension table leaves empty shows the basic character;
            # a second escape is reserved for another table, and shown as a space until there is one.
            chars.append(" " if octet == ESCAPE else _FROM_EXTENSION.get(octet, _BASIC[octet]))
        elif octet == ESCAPE:
            escaped = True
        else:
            chars.append(_BASIC[octet])
    return "".join(chars)


def decode(data: bytes, data_coding: int) -> str:
    """The text of an SMS payload (headers already removed), per its SMPP data_coding.

    SMPP's own values 0x00 to 0x0F come first; above them the GSM data coding scheme groups say which
    of GSM-7, 8-bit or UCS-2 the payload is. 8-bit data and unknown schemes are read as Latin-1, which
    never fails and keeps ASCII readable."""
    alphabet = _alphabet(data_coding)
    if alphabet == GSM:
        return decode_gsm(data)
    if alphabet == UCS2:
        # An odd length or a lone surrogate is the sender's mistake: show it, do not fail on it.
        return data.decode("utf-16-be", errors="replace")
    if alphabet == IA5:
        return data.decode("ascii", errors="replace")
    if alphabet == CYRILLIC:
        return data.decode("iso8859-5", errors="replace")
    if alphabet == HEBREW:
        return data.decode("iso8859-8", errors="replace")
    return data.decode("latin-1")


def _alphabet(data_coding: int) -> int:
    if data_coding <= 0x0F:
        return data_coding
    group = data_coding & 0xF0
    if group == 0xF0:  # data coding / message class: bit 2 says 8-bit, else GSM-7
        return BINARY if data_coding & 0x04 else GSM
    if data_coding & 0xC0 == 0x00 or data_coding & 0xC0 == 0x40:  # general coding, with or without auto-delete
        if data_coding & 0x20:  # compressed: nothing here can read it
            return BINARY
        return {0x00: GSM, 0x04: BINARY, 0x08: UCS2}.get(data_coding & 0x0C, BINARY)
    if group in (0xC0, 0xD0):  # message waiting indication, GSM-7 text
        return GSM
    if group == 0xE0:  # message waiting indication, UCS-2 text
        return UCS2
    return BINARY
