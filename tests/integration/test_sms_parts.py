"""The parts of a long inbound SMS are kept in the database as they come (issue 14), on SQLite and
PostgreSQL: a restart between two parts still gives the whole text; parts of a text that never
completes are pruned after a day; a text taken whole leaves nothing behind."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from memoguard import bootstrap
from memoguard.adapters.smpp import pdu, status
from memoguard.adapters.smpp.reception import Reception
from memoguard.adapters.storage.parts import SqlSmsParts
from memoguard.adapters.storage.sms import part_t
from memoguard.adapters.storage.store import SqlStore
from memoguard.services.inbox import Inbound
from tests.conftest import FakeClock
from tests.unit.test_smpp_inbound import Inbox, deliver

ALICE = "+33612345678"


def _store(service_dir: Path) -> SqlStore:
    return bootstrap.store(bootstrap.load(service_dir))


@pytest.fixture
def store(service_dir: Path) -> Iterator[SqlStore]:
    opened = _store(service_dir)
    yield opened
    opened.close()


def _part(reference: int, total: int, seq: int, text: bytes, sender: str = "33612345678") -> pdu.DeliverSm:
    header = bytes((0x05, 0x00, 0x03, reference, total, seq))
    return deliver(header + text, esm_class=0x40, source_addr=sender)


def _kept(store: SqlStore) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(part_t)).scalar_one())


def test_the_parts_of_a_text_across_a_restart_still_make_it_whole(service_dir: Path, fake_clock: FakeClock) -> None:
    inbox = Inbox()
    before = _store(service_dir)
    assert Reception("smpp", inbox, fake_clock, SqlSmsParts(before))(_part(7, 2, 1, b"r\x05")) == status.ROK  # "ré"
    before.close()  # memoguard restarts between the two parts

    after = _store(service_dir)
    try:
        assert Reception("smpp", inbox, fake_clock, SqlSmsParts(after))(_part(7, 2, 2, b"solu 12")) == status.ROK
        assert inbox.items == [Inbound("smpp", ALICE, "20000", "résolu 12")]
        assert _kept(after) == 0  # taken whole: its parts are gone
    finally:
        after.close()


def test_parts_in_any_order_repeated_and_from_two_senders(store: SqlStore, fake_clock: FakeClock) -> None:
    inbox = Inbox()
    reception = Reception("smpp", inbox, fake_clock, SqlSmsParts(store))
    assert reception(_part(7, 3, 3, b"c")) == status.ROK
    assert reception(_part(7, 3, 1, b"a")) == status.ROK
    assert reception(_part(7, 3, 1, b"a")) == status.ROK  # delivered twice: still one part
    assert reception(_part(7, 3, 2, b"X", sender="33699999999")) == status.ROK  # same reference, other sender
    assert inbox.items == []
    assert reception(_part(7, 3, 2, b"b")) == status.ROK
    assert inbox.items == [Inbound("smpp", ALICE, "20000", "abc")]
    assert _kept(store) == 1  # the other sender's part waits for its text


def test_a_failed_inbox_keeps_the_parts_until_the_last_comes_again(store: SqlStore, fake_clock: FakeClock) -> None:
    inbox = Inbox(failures=1)
    reception = Reception("smpp", inbox, fake_clock, SqlSmsParts(store))
    assert reception(_part(9, 2, 1, b"ok")) == status.ROK
    assert reception(_part(9, 2, 2, b" 3a")) == status.RX_T_APPN
    assert reception(_part(9, 2, 2, b" 3a")) == status.ROK
    assert inbox.items == [Inbound("smpp", ALICE, "20000", "ok 3a")]
    assert _kept(store) == 0


def test_the_parts_of_a_text_that_never_completes_are_pruned_after_a_day(
    store: SqlStore, fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = Inbox()
    reception = Reception("smpp", inbox, fake_clock, SqlSmsParts(store))
    assert reception(_part(7, 2, 1, b"ok")) == status.ROK
    fake_clock.advance(timedelta(hours=24) - timedelta(seconds=1))
    assert reception(_part(8, 2, 1, b"x", sender="33699999999")) == status.ROK
    assert _kept(store) == 2
    fake_clock.advance(timedelta(seconds=1))
    assert reception(_part(7, 2, 2, b" 3a")) == status.ROK  # its first part went a day after it came
    assert inbox.items == []
    assert "smpp: dropped an incomplete SMS from +33612345678 (reference 7): 1 of 2 parts, none more within 24h" in (
        caplog.text
    )
    assert _kept(store) == 2
