"""The user data header (TS 23.040 §9.2.3.24): how the parts of a long SMS say where they belong.

Outgoing parts carry the 8-bit reference concatenation element (IEI 0x00). Incoming ones may carry it
or the 16-bit reference one (IEI 0x08); other elements (ports, national language tables…) are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

UDHI = 0x40  # esm_class bit: the short message starts with a user data header

_CONCAT_8 = 0x00
_CONCAT_16 = 0x08


class HeaderError(ValueError):
    """A user data header that does not fit in its message or has a truncated element."""


@dataclass(frozen=True)
class Concatenation:
    """Part ``seq`` (1-based) of ``total`` of the message numbered ``reference`` by its sender."""

    reference: int
    total: int
    seq: int


def concatenation(reference: int, total: int, seq: int) -> bytes:
    """The 6-octet header of part ``seq`` of ``total`` (IEI 0x00, 8-bit reference)."""
    if not 0 <= reference <= 0xFF or not 1 <= seq <= total <= 0xFF:
        raise ValueError(f"no concatenation header for part {seq} of {total} with reference {reference}")
    return bytes((0x05, _CONCAT_8, 0x03, reference, total, seq))


def split(data: bytes) -> tuple[Concatenation | None, bytes]:
    """Separate a short message that starts with a user data header into its concatenation element
    (None when it has none, or one the spec says to ignore) and the payload after the header."""
    if not data:
        raise HeaderError("the message announces a user data header but is empty")
    length = data[0]
    if length + 1 > len(data):
        raise HeaderError(f"the user data header announces {length} octets, the message has {len(data) - 1}")
    header, payload = data[1 : length + 1], data[length + 1 :]
    found: Concatenation | None = None
    position = 0
    while position < len(header):
        if position + 2 > len(header):
            raise HeaderError(f"user data header element at octet {position} is cut short")
        iei, size = header[position], header[position + 1]
        value = header[position + 2 : position + 2 + size]
        if len(value) != size:
            raise HeaderError(f"user data header element 0x{iei:02x} announces {size} octets, has {len(value)}")
        if iei == _CONCAT_8 and size == 3:
            found = _concatenation(value[0], value[1], value[2])
        elif iei == _CONCAT_16 and size == 4:
            found = _concatenation(int.from_bytes(value[:2], "big"), value[2], value[3])
        position += 2 + size
    return found, payload


def _concatenation(reference: int, total: int, seq: int) -> Concatenation | None:
    # TS 23.040: a zero count, or a sequence number of zero or past the count, voids the element.
    if total == 0 or not 1 <= seq <= total:
        return None
    return Concatenation(reference, total, seq)
