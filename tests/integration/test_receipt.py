"""Delivery receipts that say a page never arrived (UNDELIV, REJECTD, EXPIRED, DELETED), end to end
through the real SMPP server of the suite (tests/support/smsc.py): the dispatcher sends the page over a
real SMPP link, the SMSC answers with a delivery receipt (a deliver_sm), the link hands it to the
application's replies, and the page fails over exactly like a refused send — the channel's next
provider, then the person's next channel, and with none left ``DeliveryFailed`` moves the escalation on.
Once per send, and only while the incident still waits for an acknowledgement.

The database runs on the fake clock; the SMSC and the link are real threads on loopback, and a receipt
is answered (deliver_sm_resp) only after the application committed what it did with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta

import pytest

from memoguard.adapters.smpp import SmppProvider
from memoguard.adapters.storage.parts import SqlSmsParts
from memoguard.adapters.storage.store import SqlStore
from memoguard.domain.incident import IncidentState
from memoguard.services.action import Verb
from memoguard.services.application import Application
from memoguard.services.provider import Provider
from memoguard.services.record import NotificationStatus
from tests.conftest import T0
from tests.integration.test_smpp import PASSWORD, settings
from tests.support.delivery import PENDING, SENT, Builder
from tests.support.smsc import Smsc

# The SMSC is given the name of a console provider in the configuration; the dispatcher gets a real SMPP
# link under that name instead.
SMSC_THEN_BACKUP = """\
channels:
  sms: [smsc, backup]
  voice: [backup]
  email: [mailer]
providers:
  smsc: {kind: console}
  backup: {kind: console}
  mailer: {kind: console}
"""
SMSC_ONLY = """\
channels:
  sms: [smsc]
  voice: [smsc]
  email: [smsc]
providers:
  smsc: {kind: console}
"""
FAILED = NotificationStatus.FAILED


@pytest.fixture
def smsc() -> Iterator[Smsc]:
    with Smsc(password=PASSWORD) as server:
        yield server


@pytest.fixture
def link(smsc: Smsc) -> Iterator[Callable[[Application], Mapping[str, Provider]]]:
    built: list[SmppProvider] = []

    def build(app: Application) -> Mapping[str, Provider]:
        provider = SmppProvider("smsc", settings(smsc), PASSWORD, app.replies, app.clock, SqlSmsParts(_sql(app.store)))
        built.append(provider)
        return {"smsc": provider}

    yield build
    for provider in built:
        provider.close()


def sent_ids(smsc: Smsc, count: int) -> list[str]:
    return [submit.message_id for submit in smsc.wait_for(count)]


def test_an_undelivered_page_fails_over_to_the_next_provider_once(
    build: Builder, smsc: Smsc, link: Callable[[Application], Mapping[str, Provider]]
) -> None:
    w = build(SMSC_THEN_BACKUP, ("backup", "mailer"), real=link)
    [incident] = w.open("db-1")
    w.settle()
    [message_id] = sent_ids(smsc, 1)
    row = w.row(incident)
    assert (row.status, row.provider, row.reference) == (SENT, "smsc", message_id)

    assert smsc.receipt(message_id, "UNDELIV", "034") == 0  # answered once the failover is committed
    row = w.row(incident)
    assert (row.status, row.provider_index, row.receipt) == (PENDING, 1, "UNDELIV")
    [failover] = w.timeline(incident, "delivery_failover")
    assert failover.text == f"Page #{row.id}: sms to alice via smsc failed (receipt UNDELIV, error 034); trying backup"
    w.settle()

    backup = w.providers["backup"]
    assert [(at, m.id) for at, m in backup.sent] == [(T0, row.id)]
    row = w.row(incident)
    assert (row.status, row.provider, row.reference, row.receipt) == (SENT, "backup", f"backup-{row.id}", None)

    # The same message's receipt again (the SMSC repeating itself), then another state for it: history.
    assert smsc.receipt(message_id, "UNDELIV", "034") == 0
    assert smsc.receipt(message_id, "EXPIRED", text=False) == 0
    w.settle()
    assert len(backup.calls) == 1 and len(w.timeline(incident, "delivery_failover")) == 1
    assert w.row(incident).status == SENT
    receipts = [e.text for e in w.timeline(incident, "delivery_receipt")]
    assert receipts[0] == f"Page #{row.id} to alice NOT delivered (UNDELIV, error 034), receipt from smsc"
    assert receipts[1:] == [
        f"Page #{row.id} to alice NOT delivered (UNDELIV, error 034), receipt from smsc (about an earlier attempt)",
        f"Page #{row.id} to alice NOT delivered (EXPIRED), receipt from smsc (about an earlier attempt)",
    ]
    assert len(smsc.submits) == 1  # the SMSC was not tried again
    assert w.incident(incident).state == IncidentState.TRIGGERED


def test_a_rejected_page_with_no_provider_or_channel_left_fails_and_the_escalation_moves_on(
    build: Builder, smsc: Smsc, link: Callable[[Application], Mapping[str, Provider]]
) -> None:
    w = build(SMSC_ONLY, (), real=link)
    [incident] = w.open("db-1", policy="quiet")  # one step by sms only: alice, then bob (secondary)
    w.settle()
    [message_id] = sent_ids(smsc, 1)
    [first] = w.rows(incident)

    assert smsc.receipt(message_id, "REJECTD", "011") == 0
    assert smsc.receipt(message_id, "REJECTD", "011") == 0  # again: nothing more

    rows = w.rows(incident)
    assert [(r.person, r.status, r.step) for r in rows] == [
        ("alice", FAILED, 0),
        ("bob", PENDING, 1),
    ]
    assert rows[0].error == "receipt REJECTD, error 011"
    [error] = w.timeline(incident, "delivery_error")
    assert error.text == "Could not reach alice: receipt REJECTD, error 011"
    assert w.timeline(incident, "delivery_failover") == []
    w.settle()
    assert [submit.destination_addr for submit in smsc.wait_for(2)] == ["33612345601", "33612345602"]
    assert w.rows(incident)[0].id == first.id


def test_a_receipt_for_a_page_no_longer_needed_is_only_recorded(
    build: Builder, smsc: Smsc, link: Callable[[Application], Mapping[str, Provider]]
) -> None:
    w = build(SMSC_THEN_BACKUP, ("backup", "mailer"), real=link)
    [incident] = w.open("db-1")
    w.settle()
    [message_id] = sent_ids(smsc, 1)
    w.app.actions.act(incident, Verb.ACK, "alice", "cli")

    assert smsc.receipt(message_id, "EXPIRED") == 0
    w.settle()

    row = w.row(incident)
    assert (row.status, row.provider, row.receipt) == (SENT, "smsc", "EXPIRED")
    assert w.providers["backup"].calls == []
    assert w.timeline(incident, "delivery_failover") == []
    assert w.timeline(incident, "delivery_receipt")[-1].text.startswith(f"Page #{row.id} to alice NOT delivered")


def test_a_receipt_for_a_page_of_a_step_that_is_over_is_only_recorded(
    build: Builder, smsc: Smsc, link: Callable[[Application], Mapping[str, Provider]]
) -> None:
    """Stage fencing (memoguard/domain/stage.py): once step 2 has paged bob, alice's step-1 page is not
    failed over to another provider on a late receipt: it would wake her after the step is over."""
    w = build(SMSC_THEN_BACKUP, ("backup", "mailer"), real=link)
    [incident] = w.open("db-1", policy="quiet")  # alice, then bob five minutes later
    w.settle()
    [message_id] = sent_ids(smsc, 1)
    w.clock.advance(timedelta(minutes=5))
    assert w.app.timers.fire_due() == 1
    w.settle()
    sent_ids(smsc, 2)  # bob's page

    assert smsc.receipt(message_id, "UNDELIV", "034") == 0
    w.settle()

    alice = w.rows(incident)[0]
    assert (alice.person, alice.status, alice.provider, alice.receipt) == ("alice", SENT, "smsc", "UNDELIV")
    assert w.providers["backup"].calls == []
    assert w.timeline(incident, "delivery_failover") == []
    assert w.incident(incident).step == 1


def test_an_undelivered_storm_bundle_fails_over_with_every_page_in_it(
    build: Builder, smsc: Smsc, link: Callable[[Application], Mapping[str, Provider]]
) -> None:
    w = build(SMSC_THEN_BACKUP, ("backup", "mailer"), real=link)
    incidents = w.open(*(f"db-{n}" for n in range(5)))  # default storm: two pages, then one bundle of three
    w.settle()
    ids = sent_ids(smsc, 3)
    bundled = [w.row(i) for i in incidents[2:]]
    assert len({r.bundle_id for r in bundled}) == 1 and bundled[0].bundle_id is not None

    assert smsc.receipt(ids[2], "DELETED") == 0
    w.settle()

    backup = w.providers["backup"]
    [(_, message)] = backup.sent
    assert message.incidents == tuple(incidents[2:])  # the three again, as one bundle by the backup
    assert [w.row(i).provider for i in incidents] == ["smsc", "smsc", "backup", "backup", "backup"]
    assert all(len(w.timeline(i, "delivery_failover")) == 1 for i in incidents[2:])
    assert [w.row(i).status for i in incidents] == [SENT] * 5


def _sql(store: object) -> SqlStore:
    assert isinstance(store, SqlStore)
    return store
