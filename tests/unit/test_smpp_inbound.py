"""What an SMSC sends memoguard: deliver_sm parsing, delivery receipts, replies, and addresses."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

import pytest

from memoguard.adapters.smpp import address, pdu, receipt, status
from memoguard.adapters.smpp.reception import Reception
from memoguard.config.schema import SmppSource
from memoguard.services.inbox import Inbound, Receipt
from tests.conftest import T0, FakeClock
from tests.support.parts import MemoryParts

TEXT = "id:5A000001 sub:001 dlvrd:001 submit date:2611171000 done date:2611171001 stat:DELIVRD err:000 text:Disk full"


def deliver(short_message: bytes = b"", **changes: object) -> pdu.DeliverSm:
    message = pdu.DeliverSm(
        sequence=9,
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr="33612345678",
        dest_addr_ton=0,
        dest_addr_npi=1,
        destination_addr="20000",
        esm_class=0,
        data_coding=0,
        short_message=short_message,
    )
    return replace(message, **changes)  # type: ignore[arg-type]


def wire(message: pdu.DeliverSm, tlvs: bytes = b"") -> bytes:
    def c(text: str) -> bytes:
        return text.encode("latin-1") + b"\x00"

    body = (
        c(message.service_type)
        + bytes((message.source_addr_ton, message.source_addr_npi))
        + c(message.source_addr)
        + bytes((message.dest_addr_ton, message.dest_addr_npi))
        + c(message.destination_addr)
        + bytes((message.esm_class, 0, 0))
        + c("")
        + c("")
        + bytes((0, 0, message.data_coding, 0, len(message.short_message)))
        + message.short_message
        + tlvs
    )
    return struct.pack(">LLLL", 16 + len(body), pdu.DELIVER_SM, 0, message.sequence) + body


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


# --- PDUs -----------------------------------------------------------------------------------------------


def test_deliver_sm_parses_with_any_optional_parameter() -> None:
    # ussd_service_op (0x0501) and a vendor tag: smpplib's own parser raises on the first.
    extra = tlv(0x0501, b"\x12") + tlv(0x1403, b"\xaa\xbb") + tlv(pdu.MESSAGE_STATE, b"\x02")
    parsed = pdu.deliver_sm(wire(deliver(b"12a"), extra))
    assert parsed == deliver(b"12a", tlvs={0x0501: b"\x12", 0x1403: b"\xaa\xbb", pdu.MESSAGE_STATE: b"\x02"})
    assert parsed.tlv_int(pdu.MESSAGE_STATE) == 2
    assert parsed.tlv_text(pdu.RECEIPTED_MESSAGE_ID) is None


@pytest.mark.parametrize(
    ("cut", "error"),
    [
        (lambda data: data[:20], "source_addr is not a NUL-terminated string"),
        (lambda data: data[:-2], "short_message announces 3 octets, the PDU has 1"),
        (lambda data: data + b"\x04\x27", "optional parameter header is cut short"),
        (lambda data: data + b"\x04\x27\x00\x05\x01", "optional parameter 0x0427 announces 5 octets"),
        (lambda data: data.replace(b"33612345678\x00", b"3" * 30), "source_addr"),
    ],
)
def test_bad_deliver_sm(cut: Callable[[bytes], bytes], error: str) -> None:
    data = cut(wire(deliver(b"12a")))
    data = struct.pack(">L", len(data)) + data[4:]
    with pytest.raises(pdu.PduError, match=error):
        pdu.deliver_sm(data)


def test_command_length_is_checked_before_reading_on() -> None:
    assert pdu.command_length(b"\x00\x00\x00\x10") == 16
    with pytest.raises(pdu.PduError, match="command_length 8 is not between 16 and 65536"):
        pdu.command_length(b"\x00\x00\x00\x08")


# --- receipts -------------------------------------------------------------------------------------------


def test_receipt_text() -> None:
    parsed = receipt.parse_text(TEXT)
    assert parsed == receipt.ReceiptText(
        id="5A000001",
        state="DELIVRD",
        error=None,
        submitted=datetime(2026, 11, 17, 10, 0),
        done=datetime(2026, 11, 17, 10, 1),
        text="Disk full",
    )


def test_receipt_text_variants() -> None:
    parsed = receipt.parse_text(
        "ID:77 SUB:001 DLVRD:000 SUBMIT DATE:261117100059 DONE DATE:261117100100 STAT:undeliverable ERR:034 Text:id:x"
    )
    assert (parsed.id, parsed.state, parsed.error, parsed.text) == ("77", "UNDELIV", "034", "id:x")
    assert parsed.done == datetime(2026, 11, 17, 10, 1, 0)
    assert receipt.parse_text("id:12 stat:EXPIRED").state == "EXPIRED"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "without an id: ''"),
        ("stat:DELIVRD err:000", "without an id"),
        ("id: stat:DELIVRD", "without an id"),
        ("id:12 sub:001 dlvrd:001", "without a stat: 'id:12 sub:001 dlvrd:001'"),
        ("id:12 stat:GONE", "unknown delivery receipt state 'GONE': expected one of ENROUTE, DELIVRD"),
        ("id:12 done date:26111710 stat:DELIVRD", "invalid done date '26111710': expected YYMMDDhhmm"),
        ("id:12 submit date:2613171000 stat:DELIVRD", "invalid submit date '2613171000'"),
        ("Hello, I got your page", "without an id"),
    ],
)
def test_bad_receipt_text(text: str, error: str) -> None:
    with pytest.raises(receipt.ReceiptError, match=error):
        receipt.parse_text(text)


def test_receipt_from_parameters_wins_over_the_text() -> None:
    tlvs = {
        pdu.RECEIPTED_MESSAGE_ID: b"5A000009\x00",
        pdu.MESSAGE_STATE: b"\x05",
        pdu.NETWORK_ERROR_CODE: b"\x03\x00\x22",
    }
    message = deliver(TEXT.encode(), esm_class=0x04, tlvs=tlvs)
    assert receipt.is_receipt(message)
    assert receipt.parse(message) == receipt.ParsedReceipt("5A000009", "UNDELIV", "GSM:34")


def test_receipt_from_parameters_with_a_text_in_another_format() -> None:
    tlvs = {pdu.RECEIPTED_MESSAGE_ID: b"5A000009\x00", pdu.MESSAGE_STATE: b"\x02"}
    message = deliver(b"Delivered to handset", tlvs=tlvs)  # esm_class 0: the parameter alone says receipt
    assert receipt.is_receipt(message)
    assert receipt.parse(message) == receipt.ParsedReceipt("5A000009", "DELIVRD", None)


def test_receipt_from_text_alone() -> None:
    message = deliver(TEXT.replace("stat:DELIVRD err:000", "stat:REJECTD err:011").encode(), esm_class=0x04)
    assert receipt.parse(message) == receipt.ParsedReceipt("5A000001", "REJECTD", "011")


def test_a_text_is_not_a_receipt() -> None:
    assert not receipt.is_receipt(deliver(b"12a"))
    assert not receipt.is_receipt(deliver(b"12a", esm_class=0x40))


# --- addresses ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (None, address.Address("", 0, 0)),
        (SmppSource(address="MemoGuard"), address.Address("MemoGuard", 5, 0)),
        (SmppSource(address="Astreinte 2"), address.Address("Astreinte 2", 5, 0)),
        (SmppSource(address="+33612345678"), address.Address("33612345678", 1, 1)),
        (SmppSource(address="20000"), address.Address("20000", 0, 1)),
        (SmppSource(address="20000", ton=3), address.Address("20000", 3, 1)),
        (SmppSource(address="+33612345678", ton=1, npi=0), address.Address("33612345678", 1, 0)),
    ],
)
def test_source(source: SmppSource | None, expected: address.Address) -> None:
    assert address.source(source) == expected


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("+33612345678", address.Address("33612345678", 1, 1)),
        ("+33 6 12 34 56 78", address.Address("33612345678", 1, 1)),
        ("0612345678", address.Address("0612345678", 0, 1)),
        ("alice", None),
        ("+", None),
    ],
)
def test_destination(phone: str, expected: address.Address | None) -> None:
    assert address.destination(phone) == expected


def test_sender() -> None:
    assert address.sender("33612345678", 1) == "+33612345678"
    assert address.sender("+33612345678", 1) == "+33612345678"
    assert address.sender("0612345678", 2) == "0612345678"


# --- reception ------------------------------------------------------------------------------------------


class Inbox:
    def __init__(self, failures: int = 0) -> None:
        self.items: list[Receipt | Inbound] = []
        self.failures = failures

    def receipt(self, item: Receipt) -> None:
        self._take(item)

    def reply(self, item: Inbound) -> None:
        self._take(item)

    def _take(self, item: Receipt | Inbound) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("database is locked")
        self.items.append(item)


def test_reception_of_a_receipt() -> None:
    inbox = Inbox()
    assert Reception("smpp", inbox, FakeClock(), MemoryParts())(deliver(TEXT.encode(), esm_class=0x04)) == status.ROK
    assert inbox.items == [Receipt("smpp", "5A000001", "DELIVRD", None, T0)]


def test_a_receipt_that_cannot_be_read_is_refused_for_good(caplog: pytest.LogCaptureFixture) -> None:
    inbox = Inbox()
    assert (
        Reception("smpp", inbox, FakeClock(), MemoryParts())(deliver(b"id:1 stat:LOST", esm_class=0x04))
        == status.RX_P_APPN
    )
    assert inbox.items == []
    assert "smpp: refused a delivery receipt from 33612345678: unknown delivery receipt state 'LOST'" in caplog.text


def test_an_inbox_failure_asks_for_the_receipt_again(caplog: pytest.LogCaptureFixture) -> None:
    inbox = Inbox(failures=1)
    reception = Reception("smpp", inbox, FakeClock(), MemoryParts())
    assert reception(deliver(TEXT.encode(), esm_class=0x04)) == status.RX_T_APPN
    assert "the inbox could not take the receipt for 5A000001 (RuntimeError: database is locked)" in caplog.text
    assert reception(deliver(TEXT.encode(), esm_class=0x04)) == status.ROK
    assert len(inbox.items) == 1


def test_reception_of_a_text_in_message_payload() -> None:
    inbox = Inbox()
    message = deliver(tlvs={pdu.MESSAGE_PAYLOAD: "12a reçu".encode("utf-16-be")}, data_coding=0x08)
    assert Reception("smpp", inbox, FakeClock(), MemoryParts())(message) == status.ROK
    assert inbox.items == [Inbound("smpp", "+33612345678", "20000", "12a reçu")]


def test_parts_told_by_sar_parameters() -> None:
    inbox = Inbox()
    reception = Reception("smpp", inbox, FakeClock(), MemoryParts())

    def part(seq: int, text: bytes) -> pdu.DeliverSm:
        sar = {pdu.SAR_MSG_REF_NUM: b"\x01\x02", pdu.SAR_TOTAL_SEGMENTS: b"\x02", pdu.SAR_SEGMENT_SEQNUM: bytes((seq,))}
        return deliver(text, tlvs=sar)

    assert reception(part(2, b" 12a")) == status.ROK
    assert inbox.items == []
    assert reception(part(1, b"ok")) == status.ROK
    assert inbox.items == [Inbound("smpp", "+33612345678", "20000", "ok 12a")]


def test_a_failed_inbox_keeps_the_parts_until_the_last_comes_again() -> None:
    inbox = Inbox(failures=1)
    reception = Reception("smpp", inbox, FakeClock(), MemoryParts())
    first = deliver(b"\x05\x00\x03\x07\x02\x01r\x05", esm_class=0x40)  # "ré", GSM-7
    last = deliver(b"\x05\x00\x03\x07\x02\x02solu", esm_class=0x40)
    assert reception(first) == status.ROK
    assert reception(last) == status.RX_T_APPN
    assert reception(last) == status.ROK
    assert inbox.items == [Inbound("smpp", "+33612345678", "20000", "résolu")]


def test_a_bad_header_is_refused_for_good(caplog: pytest.LogCaptureFixture) -> None:
    inbox = Inbox()
    assert (
        Reception("smpp", inbox, FakeClock(), MemoryParts())(deliver(b"\x09\x00", esm_class=0x40)) == status.RX_P_APPN
    )
    assert "refused an SMS from 33612345678: the user data header announces 9 octets" in caplog.text
    assert inbox.items == []


def test_status_descriptions() -> None:
    assert status.describe(0x0E) == "ESME_RINVPASWD (0x0e, invalid password)"
    assert status.describe(0x58) == "ESME_RTHROTTLED (0x58, throttled)"
    assert status.describe(0x400) == "status 0x400 (not an SMPP 3.4 code)"
