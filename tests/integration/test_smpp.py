"""The smpp provider against a real SMPP 3.4 server on loopback (tests/support/smsc.py, on smpp34).

What the SMSC recorded is decoded with its own GSM table and compared with the page's text; receipts
and replies come back through real deliver_sm to an in-memory inbox. Links that break (an unbind from
the SMSC, a crash, a peer that stops answering enquire_link) are mended by the provider itself, and
each failure reaches the dispatcher as the DeliveryError it can act on.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from memoguard.adapters.smpp import SmppProvider
from memoguard.config.schema import SmppProvider as SmppSettings
from memoguard.domain.person import Person
from memoguard.services.inbox import Inbound, Receipt
from memoguard.services.provider import DeliveryError, Message
from tests.conftest import T0, FakeClock
from tests.support.parts import MemoryParts
from tests.support.smsc import RINVDSTADR, RINVPASWD, RMSGQFUL, RSYSERR, RTHROTTLED, Smsc, free_port, whole_text
from tests.support.tls import self_signed

ALICE = Person("alice", phone="+33612345678", language="fr")
PASSWORD = "secret"


def page(
    text: str = "memoguard #12 critical : Disk full on db1. Répondez 12a", person: Person | None = ALICE
) -> Message:
    return Message(
        id=7,
        key="msg-7",
        incident="12",
        person=person,
        channel="sms",
        purpose="page",
        subject="Disk full on db1",
        text=text,
        created_at=T0,
    )


class Inbox:
    """Records what the provider hands over; ``failures`` makes the next calls raise."""

    def __init__(self) -> None:
        self.receipts: list[Receipt] = []
        self.replies: list[Inbound] = []
        self.failures = 0
        self.calls = 0
        self._changed = threading.Condition()

    def receipt(self, receipt: Receipt) -> None:
        self._take(self.receipts, receipt)

    def reply(self, message: Inbound) -> None:
        self._take(self.replies, message)

    def _take(self, into: list[Any], item: Any) -> None:
        with self._changed:
            self.calls += 1
            if self.failures:
                self.failures -= 1
                raise RuntimeError("database is locked")
            into.append(item)
            self._changed.notify_all()


def settings(smsc: Smsc, **changes: Any) -> SmppSettings:
    document = {
        "kind": "smpp",
        "host": smsc.host,
        "port": smsc.port,
        "system_id": smsc.system_id,
        "source": "+33100000000",
        "timeout": "2s",
        "reconnect_max": "1s",
    }
    document |= {key: value for key, value in changes.items() if not isinstance(value, timedelta)}
    # Durations go in past validation, which lets a test use ones shorter than configuration allows.
    durations = {key: value for key, value in changes.items() if isinstance(value, timedelta)}
    return SmppSettings.model_validate(document).model_copy(update=durations)


@pytest.fixture
def smsc() -> Iterator[Smsc]:
    with Smsc(password=PASSWORD) as server:
        yield server


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


Make = Callable[..., SmppProvider]


@pytest.fixture
def make(smsc: Smsc, inbox: Inbox) -> Iterator[Make]:
    built: list[SmppProvider] = []

    def build(password: str = PASSWORD, *, server: Smsc | None = None, **changes: Any) -> SmppProvider:
        provider = SmppProvider(
            "smpp-main", settings(server or smsc, **changes), password, inbox, FakeClock(), MemoryParts()
        )
        built.append(provider)
        return provider

    yield build
    for provider in built:
        provider.close()


# --- sending --------------------------------------------------------------------------------------------


def test_a_short_gsm_page(smsc: Smsc, make: Make) -> None:
    provider = make()
    reference = provider.send(page())
    [submit] = smsc.wait_for(1)
    assert reference == submit.message_id
    assert submit.text == page().text
    assert (submit.data_coding, submit.esm_class, submit.registered_delivery) == (0, 0, 1)
    assert (submit.destination_addr, submit.dest_addr_ton, submit.dest_addr_npi) == ("33612345678", 1, 1)
    assert (submit.source_addr, submit.source_addr_ton, submit.source_addr_npi) == ("33100000000", 1, 1)
    assert provider.problem is None


def test_an_alphanumeric_sender_and_no_receipts(smsc: Smsc, make: Make) -> None:
    provider = make(source={"address": "MemoGuard"}, receipts=False)
    provider.send(page())
    [submit] = smsc.wait_for(1)
    assert (submit.source_addr, submit.source_addr_ton, submit.source_addr_npi) == ("MemoGuard", 5, 0)
    assert submit.registered_delivery == 0


def test_a_long_gsm_page_with_an_escape_pair_at_the_boundary(smsc: Smsc, make: Make) -> None:
    text = "x" * 152 + "€ [db1] " + "Disk full. " * 20
    references = make().send(page(text)).split(" ")
    submits = smsc.wait_for(3)
    assert references == [submit.message_id for submit in submits]
    assert [submit.concat.seq if submit.concat else None for submit in submits] == [1, 2, 3]
    assert {submit.concat.total if submit.concat else None for submit in submits} == {3}
    assert len({submit.concat.reference if submit.concat else None for submit in submits}) == 1
    assert all(submit.esm_class == 0x40 and submit.data_coding == 0 for submit in submits)
    assert submits[0].payload == b"x" * 152  # the euro sign did not fit: both its septets moved on
    assert submits[1].payload.startswith(b"\x1b\x65")
    assert all(len(submit.payload) <= 153 for submit in submits)
    assert whole_text(submits) == text


def test_a_ucs2_page_with_accents_and_emoji(smsc: Smsc, make: Make) -> None:
    text = "ç" * 66 + "🔥 Disque plein sur db1, répondez 12a 😀"
    make().send(page(text))
    submits = smsc.wait_for(2)
    assert all(submit.data_coding == 8 for submit in submits)
    assert [len(submit.payload) // 2 for submit in submits] == [66, len(text.encode("utf-16-be")) // 2 - 66]
    assert [submit.text for submit in submits] == ["ç" * 66, text[66:]]  # each part decodes alone
    assert whole_text(submits) == text


def test_send_starts_the_link_and_waits_for_the_first_bind(smsc: Smsc, make: Make) -> None:
    provider = make()
    assert provider.problem == "smpp-main: not started"
    assert provider.send(page())
    assert [bind.kind for bind in smsc.binds] == ["transceiver"]


def test_building_a_provider_opens_nothing(make: Make) -> None:
    provider = make()
    assert provider.problem == "smpp-main: not started"
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("smpp smpp-main")]


def test_a_person_without_a_phone_is_a_permanent_failure(make: Make) -> None:
    provider = make()
    with pytest.raises(DeliveryError, match="smpp-main: bob has no phone number") as failure:
        provider.send(page(person=Person("bob")))
    assert not failure.value.retryable
    with pytest.raises(DeliveryError, match="bob's phone 'n/a' is not a number") as failure:
        provider.send(page(person=Person("bob", phone="n/a")))
    assert not failure.value.retryable
    assert provider.problem == "smpp-main: not started"


@pytest.mark.parametrize("code", [RTHROTTLED, RMSGQFUL])
def test_throttling_asks_the_dispatcher_to_wait(smsc: Smsc, make: Make, code: int) -> None:
    provider = make()
    smsc.refuse(code)
    with pytest.raises(DeliveryError) as failure:
        provider.send(page())
    assert failure.value.retryable
    assert failure.value.retry_after == timedelta(seconds=1)
    assert f"(0x{code:02x}, " in failure.value.reason
    assert failure.value.reason.startswith("smpp-main: submit_sm to 33612345678 refused: ESME_R")
    assert provider.send(page())  # the next one goes through


def test_an_invalid_destination_is_permanent(smsc: Smsc, make: Make) -> None:
    smsc.refuse(RINVDSTADR)
    with pytest.raises(DeliveryError) as failure:
        make().send(page())
    assert not failure.value.retryable
    assert failure.value.reason == (
        "smpp-main: submit_sm to 33612345678 refused: ESME_RINVDSTADR (0x0b, invalid destination address)"
    )


def test_a_system_error_may_work_later(smsc: Smsc, make: Make) -> None:
    smsc.refuse(RSYSERR)
    with pytest.raises(DeliveryError, match=r"ESME_RSYSERR \(0x08, system error\)") as failure:
        make().send(page())
    assert failure.value.retryable
    assert failure.value.retry_after is None


def test_a_refused_second_part_says_how_far_it_went(smsc: Smsc, make: Make) -> None:
    smsc.refuse(RSYSERR, after=1)
    with pytest.raises(DeliveryError) as failure:
        make().send(page("Disk full. " * 20))
    assert failure.value.reason.endswith("ESME_RSYSERR (0x08, system error) (part 2 of 2, after 1 accepted)")
    assert [submit.status for submit in smsc.wait_for(2)] == [0, RSYSERR]


def test_no_submit_sm_resp_in_time_may_work_later(smsc: Smsc, make: Make, caplog: pytest.LogCaptureFixture) -> None:
    provider = make(timeout=timedelta(milliseconds=300))
    provider.start()
    assert provider.wait_bound(5)
    smsc.hold()
    with pytest.raises(DeliveryError) as failure:
        provider.send(page())
    assert failure.value.retryable
    assert failure.value.reason == "smpp-main: no submit_sm_resp within 0.3s"
    smsc.release()  # the answer comes after all: the link stays up and says the message may go twice
    assert provider.send(page())
    assert "came after the sender gave up: the message may go twice" in caplog.text


# --- receipts and replies -------------------------------------------------------------------------------


def wait_until(inbox: Inbox, ready: Callable[[], bool]) -> None:
    with inbox._changed:
        assert inbox._changed.wait_for(ready, 5), (inbox.receipts, inbox.replies)


def test_receipts_reach_the_inbox(smsc: Smsc, make: Make, inbox: Inbox) -> None:
    provider = make()
    first, second, third = (provider.send(page()) for _ in range(3))
    smsc.wait_for(3)
    assert smsc.receipt(first, "DELIVRD") == 0
    assert smsc.receipt(second, "UNDELIV", "034", tlvs=False) == 0
    assert smsc.receipt(third, "EXPIRED", text=False, network_error=27) == 0
    assert inbox.receipts == [
        Receipt("smpp-main", first, "DELIVRD", None, T0),
        Receipt("smpp-main", second, "UNDELIV", "034", T0),
        Receipt("smpp-main", third, "EXPIRED", "GSM:27", T0),
    ]


def test_replies_reach_the_inbox(smsc: Smsc, make: Make, inbox: Inbox) -> None:
    make().start()
    assert smsc.deliver("12a") == [0]
    assert smsc.deliver("Reçu, j'y vais", coding="latin1") == [0]
    assert smsc.deliver("ok 12a 👍", coding="ucs2", sender="0612345678", sender_ton=2) == [0]
    assert inbox.replies == [
        Inbound("smpp-main", "+33612345678", "memoguard", "12a"),
        Inbound("smpp-main", "+33612345678", "memoguard", "Reçu, j'y vais"),
        Inbound("smpp-main", "0612345678", "memoguard", "ok 12a 👍"),
    ]


@pytest.mark.parametrize("wide", [False, True])
def test_a_reply_in_parts_out_of_order_arrives_whole(smsc: Smsc, make: Make, inbox: Inbox, wide: bool) -> None:
    make().start()
    text = "Bien reçu, je regarde db1 tout de suite 😀 et je rappelle la cellule de crise"
    assert smsc.deliver(text, coding="ucs2", parts=3, order=[3, 1, 2], wide_reference=wide) == [0, 0, 0]
    assert inbox.replies == [Inbound("smpp-main", "+33612345678", "memoguard", text)]
    assert inbox.calls == 1


def test_an_inbox_failure_is_answered_with_a_temporary_error(smsc: Smsc, make: Make, inbox: Inbox) -> None:
    provider = make()
    reference = provider.send(page())
    smsc.wait_for(1)
    inbox.failures = 2
    assert smsc.deliver("12a") == [0x64]  # ESME_RX_T_APPN: the SMSC keeps it and delivers it again
    assert smsc.receipt(reference) == 0x64
    assert (inbox.replies, inbox.receipts) == ([], [])
    assert smsc.deliver("12a") == [0]
    assert smsc.receipt(reference) == 0
    assert inbox.replies == [Inbound("smpp-main", "+33612345678", "memoguard", "12a")]
    assert [receipt.message_id for receipt in inbox.receipts] == [reference]


def test_a_deliver_sm_that_cannot_be_read_is_refused_for_good(smsc: Smsc, make: Make, inbox: Inbox) -> None:
    make().start()
    assert smsc.deliver_pdu(short_message=b"id:5A000001 stat:LOST", esm_class=0x04) == 0x65
    assert smsc.deliver_pdu(short_message=b"\x09\x00\x03", esm_class=0x40) == 0x65
    assert inbox.calls == 0


# --- the link -------------------------------------------------------------------------------------------


def test_an_unbind_from_the_smsc_is_answered_and_the_link_binds_again(smsc: Smsc, make: Make) -> None:
    provider = make()
    provider.send(page())
    smsc.unbind()
    smsc.wait_binds(2)
    assert provider.wait_bound(5)
    provider.send(page())
    first, second = smsc.wait_for(2)
    assert first.session != second.session


def test_a_stopped_smsc_makes_sends_fail_at_once_until_it_is_back(smsc: Smsc, make: Make) -> None:
    provider = make()
    provider.send(page())
    smsc.stop()
    with pytest.raises(DeliveryError) as failure:
        provider.send(page())
    assert failure.value.retryable
    problem = provider.problem
    assert problem is not None
    assert problem.startswith("smpp-main: link down since 2026-11-17T10:00:00+00:00: ")
    smsc.start()
    assert provider.wait_bound(5)
    assert provider.problem is None
    provider.send(page())
    assert len(smsc.wait_for(2)) == 2


def test_an_smsc_that_is_not_there(make: Make) -> None:
    nobody = Smsc(port=free_port())  # never started: nothing listens on its port
    provider = make(server=nobody)
    with pytest.raises(DeliveryError) as failure:
        provider.send(page())
    assert failure.value.retryable
    assert failure.value.reason == (
        f"smpp-main: link down since 2026-11-17T10:00:00+00:00: cannot connect to 127.0.0.1:{nobody.port}: "
        "connection refused"
    )
    assert provider.problem == failure.value.reason


def test_a_wrong_password_is_a_clear_problem_and_the_link_keeps_trying(smsc: Smsc, make: Make) -> None:
    provider = make("wrong")
    with pytest.raises(DeliveryError) as failure:
        provider.send(page())
    expected = f"smpp-main: bind refused by 127.0.0.1:{smsc.port}: ESME_RINVPASWD (0x0e, invalid password)"
    assert failure.value.retryable
    assert failure.value.reason == expected
    assert provider.problem == expected
    assert [bind.status for bind in smsc.wait_binds(2)] == [RINVPASWD, RINVPASWD]
    assert smsc.submits == []


def test_separate_transmitter_and_receiver_binds(smsc: Smsc, make: Make, inbox: Inbox) -> None:
    provider = make(bind="separate")
    provider.start()
    assert provider.wait_bound(5)
    assert sorted(bind.kind for bind in smsc.binds) == ["receiver", "transmitter"]
    reference = provider.send(page())
    smsc.wait_for(1)
    assert smsc.receipt(reference) == 0
    assert smsc.deliver("12a") == [0]
    assert [receipt.message_id for receipt in inbox.receipts] == [reference]
    assert [reply.text for reply in inbox.replies] == ["12a"]


def test_a_dead_peer_is_noticed_and_the_link_bound_again(
    smsc: Smsc, make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "memoguard.adapters.smpp")
    provider = make(enquire_link=timedelta(milliseconds=200), timeout=timedelta(milliseconds=400))
    smsc.silence()
    provider.start()
    smsc.wait_binds(2)
    assert "smpp-main: link lost: no enquire_link_resp within 0.4s: the SMSC stopped answering" in caplog.text
    smsc.silence(False)
    assert provider.wait_bound(5)
    provider.send(page())


def test_a_live_peer_keeps_the_link_with_enquire_link(smsc: Smsc, make: Make) -> None:
    provider = make(enquire_link=timedelta(milliseconds=100), timeout=timedelta(milliseconds=500))
    provider.start()
    smsc.wait_enquiries(4)
    assert len(smsc.binds) == 1
    assert provider.problem is None


def test_close_unbinds_and_stops_everything(smsc: Smsc, make: Make) -> None:
    provider = make(bind="separate")
    provider.send(page())
    smsc.wait_sessions(2)
    provider.close()
    smsc.wait_sessions(0)
    assert provider.problem == "smpp-main (transmitter): closed"
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("smpp smpp-main")]
    provider.close()
    with pytest.raises(DeliveryError, match="closed") as failure:
        provider.send(page())
    assert failure.value.retryable


# --- TLS ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


def tls_server(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    key, cert = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def test_tls(certificate: tuple[Path, Path], inbox: Inbox, make: Make) -> None:
    with Smsc(password=PASSWORD, tls=tls_server(certificate)) as secure:
        provider = make(server=secure, tls=True, tls_ca=str(certificate[1]))
        provider.send(page("Incident résolu"))
        [submit] = secure.wait_for(1)
        assert submit.text == "Incident résolu"
        assert secure.deliver("12a") == [0]
        assert [reply.text for reply in inbox.replies] == ["12a"]
        provider.close()


def test_tls_with_an_untrusted_certificate(certificate: tuple[Path, Path], make: Make) -> None:
    with Smsc(password=PASSWORD, tls=tls_server(certificate)) as secure:
        provider = make(server=secure, tls=True)  # the system's CAs do not know this self-signed one
        with pytest.raises(DeliveryError, match=r"TLS certificate not trusted: self.signed certificate") as failure:
            provider.send(page())
        assert failure.value.retryable
        provider.close()
