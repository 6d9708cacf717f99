"""Reading PDUs off the wire: the header of any PDU, and the body of the few the link must read.

smpplib builds what memoguard sends, but its parser is not used for what arrives: it raises on
optional parameters SMPP defines yet its deliver_sm does not list (ussd_service_op,
source_addr_subunit…), which would leave a reply unacknowledged forever. This reader keeps every
optional parameter as raw bytes, and says what is wrong with a malformed PDU.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

HEADER = 16
MAX_LENGTH = 64 * 1024  # far above any real PDU: a larger length means the stream is garbage

BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
UNBIND = 0x00000006
BIND_TRANSCEIVER = 0x00000009
ENQUIRE_LINK = 0x00000015
ALERT_NOTIFICATION = 0x00000102
RESPONSE = 0x80000000
BIND = {"receiver": BIND_RECEIVER, "transmitter": BIND_TRANSMITTER, "transceiver": BIND_TRANSCEIVER}
GENERIC_NACK = 0x80000000
SUBMIT_SM_RESP = SUBMIT_SM | RESPONSE
DELIVER_SM_RESP = DELIVER_SM | RESPONSE
UNBIND_RESP = UNBIND | RESPONSE
ENQUIRE_LINK_RESP = ENQUIRE_LINK | RESPONSE

# Optional parameter tags (SMPP 3.4 §5.3.2).
SAR_MSG_REF_NUM = 0x020C
SAR_TOTAL_SEGMENTS = 0x020E
SAR_SEGMENT_SEQNUM = 0x020F
RECEIPTED_MESSAGE_ID = 0x001E
NETWORK_ERROR_CODE = 0x0423
MESSAGE_PAYLOAD = 0x0424
MESSAGE_STATE = 0x0427


class PduError(ValueError):
    """A PDU that does not parse; the message says which field is wrong."""


@dataclass(frozen=True)
class Header:
    length: int
    command_id: int
    status: int
    sequence: int


def header(data: bytes) -> Header:
    if len(data) < HEADER:
        raise PduError(f"a PDU header is {HEADER} octets, got {len(data)}")
    length, command_id, status, sequence = struct.unpack(">LLLL", data[:HEADER])
    return Header(length, command_id, status, sequence)


def command_length(prefix: bytes) -> int:
    """The length announced by the first four octets of a PDU, checked before waiting for the rest."""
    (length,) = struct.unpack(">L", prefix[:4])
    if not HEADER <= length <= MAX_LENGTH:
        raise PduError(f"command_length {length} is not between {HEADER} and {MAX_LENGTH}")
    return int(length)


@dataclass(frozen=True)
class DeliverSm:
    """A deliver_sm: a delivery receipt or a text from a phone. ``tlvs`` maps each optional parameter's
    tag to its raw value (the last one wins if a tag repeats)."""

    sequence: int
    source_addr_ton: int
    source_addr_npi: int
    source_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    destination_addr: str
    esm_class: int
    data_coding: int
    short_message: bytes
    service_type: str = ""
    protocol_id: int = 0
    registered_delivery: int = 0
    tlvs: Mapping[int, bytes] = field(default_factory=dict)

    def tlv_int(self, tag: int) -> int | None:
        value = self.tlvs.get(tag)
        return None if not value else int.from_bytes(value, "big")

    def tlv_text(self, tag: int) -> str | None:
        value = self.tlvs.get(tag)
        return None if value is None else value.rstrip(b"\x00").decode("latin-1")


class _Reader:
    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._position = HEADER
        self._what = what

    def c_string(self, name: str, limit: int) -> str:
        end = self._data.find(b"\x00", self._position, self._position + limit)
        if end < 0:
            raise PduError(f"{self._what}: {name} is not a NUL-terminated string of at most {limit} octets")
        value = self._data[self._position : end].decode("latin-1")
        self._position = end + 1
        return value

    def octet(self, name: str) -> int:
        if self._position >= len(self._data):
            raise PduError(f"{self._what}: the PDU ends before {name}")
        value = self._data[self._position]
        self._position += 1
        return value

    def octets(self, name: str, count: int) -> bytes:
        value = self._data[self._position : self._position + count]
        if len(value) != count:
            raise PduError(f"{self._what}: {name} announces {count} octets, the PDU has {len(value)}")
        self._position += count
        return value

    def tlvs(self) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        while self._position < len(self._data):
            if self._position + 4 > len(self._data):
                raise PduError(f"{self._what}: an optional parameter header is cut short")
            tag, size = struct.unpack(">HH", self._data[self._position : self._position + 4])
            self._position += 4
            found[tag] = self.octets(f"optional parameter 0x{tag:04x}", size)
        return found


def deliver_sm(data: bytes) -> DeliverSm:
    """Parse a whole deliver_sm PDU (header included)."""
    head = header(data)
    if head.command_id != DELIVER_SM:
        raise PduError(f"command 0x{head.command_id:08x} is not a deliver_sm")
    reader = _Reader(data[: head.length], "deliver_sm")
    service_type = reader.c_string("service_type", 6)
    source_ton, source_npi = reader.octet("source_addr_ton"), reader.octet("source_addr_npi")
    source = reader.c_string("source_addr", 21)
    dest_ton, dest_npi = reader.octet("dest_addr_ton"), reader.octet("dest_addr_npi")
    destination = reader.c_string("destination_addr", 21)
    esm_class, protocol_id = reader.octet("esm_class"), reader.octet("protocol_id")
    reader.octet("priority_flag")
    reader.c_string("schedule_delivery_time", 17)
    reader.c_string("validity_period", 17)
    registered_delivery = reader.octet("registered_delivery")
    reader.octet("replace_if_present_flag")
    data_coding = reader.octet("data_coding")
    reader.octet("sm_default_msg_id")
    short_message = reader.octets("short_message", reader.octet("sm_length"))
    return DeliverSm(
        sequence=head.sequence,
        service_type=service_type,
        source_addr_ton=source_ton,
        source_addr_npi=source_npi,
        source_addr=source,
        dest_addr_ton=dest_ton,
        dest_addr_npi=dest_npi,
        destination_addr=destination,
        esm_class=esm_class,
        protocol_id=protocol_id,
        registered_delivery=registered_delivery,
        data_coding=data_coding,
        short_message=short_message,
        tlvs=reader.tlvs(),
    )


def message_id(data: bytes) -> str:
    """The message_id of a submit_sm_resp; empty when the SMSC refused the message and sent no body."""
    head = header(data)
    body = data[HEADER : head.length]
    end = body.find(b"\x00")
    return (body if end < 0 else body[:end]).decode("latin-1")
