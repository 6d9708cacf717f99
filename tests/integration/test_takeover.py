"""Two instances on one database, one of them dying: its pages are sent by the survivor at once, never
twice by a live instance however slow, and never by an instance whose claim was taken over.

Each instance is a whole application on its own store (its own engine, pool and claimant session), on
the shared fake clock. An instance dies as a killed process does for the database: its claimant session
is terminated (``pg_terminate_backend``) while it holds claims. Nothing sleeps: a "slow" instance is one
whose provider call moves the fake clock far past any lease."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from memoguard import bootstrap
from memoguard.adapters.storage.store import SqlStore
from memoguard.services.dispatch import LEASE, Dispatcher
from memoguard.services.provider import DeliveryError, Message
from memoguard.services.record import NotificationStatus
from tests.support.claims import end_claimant_session
from tests.support.delivery import CONSOLE_ONLY, PENDING, SEED, Builder, World

SENDING = NotificationStatus.SENDING
SENT = NotificationStatus.SENT


def _two(build: Builder) -> tuple[World, World]:
    first = build(CONSOLE_ONLY, storm="storm: {pages: 0}\n")
    second = World(bootstrap.application(first.app.config, first.clock), first.clock, ("console",))
    build._apps.append(second.app)  # closed with the others
    return first, second


def _claim_everything(world: World) -> list[int]:
    """What a dispatch round does before its calls run: the ready rows claimed by this instance."""
    now = world.clock.now()
    with world.app.store.write() as unit:
        unit.lock_dispatch()
        rows = unit.ready_notifications(now, 100)
        return unit.claim_notifications([r.id for r in rows], now + LEASE)


def _store(world: World) -> SqlStore:
    assert isinstance(world.app.store, SqlStore)
    return world.app.store


@pytest.fixture
def postgres_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several instances share a database on PostgreSQL only (SQLite: one process sends)")


@pytest.mark.usefixtures("postgres_only")
def test_a_dead_instances_pages_are_sent_by_the_survivor_at_once(build: Builder) -> None:
    dead, survivor = _two(build)
    [incident] = dead.open("db-1", policy="pair")
    claimed = _claim_everything(dead)
    assert len(claimed) == 2  # alice and carol, claimed by the instance about to die
    end_claimant_session(_store(dead), other=_store(survivor))

    survivor.settle()  # the same instant: no lease to wait for

    sent = sorted(m.person.name for _, m in survivor.providers["console"].sent if m.person is not None)
    assert sent == ["alice", "carol"]
    assert {n.id: n.status for n in survivor.rows(incident)} == dict.fromkeys(claimed, SENT)
    assert dead.providers["console"].calls == []


@pytest.mark.usefixtures("postgres_only")
def test_a_live_but_slow_instance_is_not_taken_over(build: Builder) -> None:
    slow, other = _two(build)
    [incident] = slow.open("db-1")
    provider = slow.providers["console"]

    def stall(_: Message) -> None:
        # Mid-send, far past any lease, the other instance runs its rounds: the page is not its to take.
        slow.clock.advance(10 * LEASE)
        other.settle()

    provider.before = stall
    slow.settle()

    assert other.providers["console"].calls == []
    assert len(provider.sent) == 1
    [row] = slow.rows(incident)
    assert row.status == SENT


def test_an_instance_whose_claim_was_taken_over_does_not_send_it(build: Builder) -> None:
    """The fence: just before a send the claim is renewed only if it is still this instance's. On
    PostgreSQL it is taken over once the first claimer's session is gone; on SQLite (one sending process,
    leases) once its lease lapsed. The first claimer, carrying on, must not send it too."""
    first, second = _two(build)
    [incident] = first.open("db-1")
    [page] = _claim_everything(first)
    if _store(first).postgres:
        end_claimant_session(_store(first), other=_store(second))
    else:
        first.clock.advance(LEASE + timedelta(seconds=1))
    renewed: list[bool] = []

    def first_carries_on(_: Message) -> None:
        # While the second instance is sending it, the first reaches its pre-send check for the same row.
        with first.app.store.write() as unit:
            renewed.append(unit.renew_claim(page, first.clock.now() + LEASE))

    second.providers["console"].before = first_carries_on
    second.settle()
    assert len(second.providers["console"].sent) == 1
    assert renewed == [False]
    first.settle()  # and its next rounds find nothing to send
    assert first.providers["console"].calls == []
    [row] = first.rows(incident)
    assert row.status == SENT


@pytest.mark.parametrize("error", [DeliveryError("refused", retryable=False), DeliveryError("timeout", retryable=True)])
def test_an_instance_whose_claim_was_taken_over_mid_send_does_not_record_its_outcome(
    build: Builder, error: DeliveryError
) -> None:
    """The fence holds after the call too: the first claimer's call fails after its claim was taken over
    and the page delivered by the other instance. Recording that failure would undo the other's work: a
    failover (the page pending again, sent twice), a retry, or a failure for good (the step escalating as
    if nobody could be reached). The row is the new claimer's: the outcome is only logged."""
    first, second = _two(build)
    [incident] = first.open("db-1")

    def taken_over_meanwhile(_: Message) -> None:
        if _store(first).postgres:
            end_claimant_session(_store(first), other=_store(second))
        else:
            first.clock.advance(LEASE + timedelta(seconds=1))
        second.settle()  # takes the claim over and delivers the page

    provider = first.providers["console"]
    provider.before = taken_over_meanwhile
    provider.failures = [error]
    first.settle()

    assert len(second.providers["console"].sent) == 1
    [row] = first.rows(incident)
    assert (row.status, row.channel_index) == (SENT, 0)
    assert [k for k in first.kinds(incident) if k.startswith("delivery")] == []
    assert first.incident(incident).undeliverable == frozenset()
    first.settle()
    second.settle()
    assert len(provider.calls) == 1 and len(second.providers["console"].sent) == 1  # never sent again


@pytest.mark.usefixtures("postgres_only")
def test_an_instance_that_lost_its_session_claims_again_under_a_new_token(build: Builder) -> None:
    first, second = _two(build)
    first.open("db-1")
    assert len(_claim_everything(first)) == 1
    old = _store(first).claimant.current
    end_claimant_session(_store(first), other=_store(second))
    first.settle()  # its own claim, now a dead one's, is taken back and sent under a new token
    assert len(first.providers["console"].sent) == 1
    assert _store(first).claimant.current not in (None, old)


class BrokenRenderer:
    """A renderer with a bug: a storm bundle's text cannot be written (the round fails outside any
    provider call, where only the dispatcher can give its rows back)."""

    def render(self, template: str, language: str, context: Mapping[str, Any]) -> str:
        raise RuntimeError(f"template {template} is broken")


def test_a_call_that_fails_on_a_bug_gives_its_rows_back(build: Builder) -> None:
    """A live claimer's rows are never taken over on PostgreSQL, so a bug that ends a call must not leave
    them claimed: they go back to the queue a lease later, and are sent once the bug is gone."""
    w = build(CONSOLE_ONLY, storm="storm: {pages: 1, per: 10m}\n")
    first, second = w.open("db-1", "db-2")  # both page alice by SMS: one storm bundle of two
    config = w.app.config
    broken = Dispatcher(
        w.app.store,
        w.clock,
        config.people,
        bootstrap.delivery(config),
        w.providers,
        w.app.escalator,
        BrokenRenderer(),
        random.Random(SEED),
    )
    broken.drain()
    rows = w.rows(first) + w.rows(second)
    assert [(r.status, r.not_before) for r in rows] == [(PENDING, w.clock.now() + LEASE)] * 2
    assert w.providers["console"].calls == []

    w.clock.advance(LEASE)
    w.settle()  # the bug is gone (a dispatcher with the real renderer): both go, bundled
    assert len(w.providers["console"].sent) == 1
    assert {r.status for r in w.rows(first) + w.rows(second)} == {SENT}


@pytest.mark.usefixtures("postgres_only")
def test_every_session_asks_for_tcp_keepalives(build: Builder) -> None:
    """A host that vanishes without closing its connections: its sessions (its claimant's, its open
    transactions holding timers and incident locks) must be dropped within half a minute, not after the
    system's two hours, for its claims to be taken over."""
    w = build(CONSOLE_ONLY)
    with _store(w).engine.connect() as connection:
        settings = [
            connection.execute(text(f"SHOW tcp_keepalives_{name}")).scalar_one()
            for name in ("idle", "interval", "count")
        ]
    assert settings == ["10", "5", "3"]


@pytest.mark.usefixtures("postgres_only")
def test_a_token_still_held_is_never_taken_again_after_the_sequence_was_reset(build: Builder) -> None:
    """A restored dump may set the token sequence back: a new instance must skip a token a live one holds
    (sharing it would make each one's claims the other's), not wait for it."""
    first, second = _two(build)
    first.open("db-1")
    assert len(_claim_everything(first)) == 1
    held = _store(first).claimant.current
    with _store(second).engine.begin() as connection:
        connection.execute(text(f"ALTER SEQUENCE outbox_claimant RESTART WITH {held}"))
    second.open("db-2")
    assert len(_claim_everything(second)) == 1
    assert _store(second).claimant.current not in (None, held)
