"""A stop in the middle of a dispatch round: the call under way is finished and recorded, the calls not
started go back to the queue at once, due now, for another instance or the next start (issue 19)."""

from __future__ import annotations

from tests.support.delivery import CONSOLE_ONLY, PENDING, SENT, Builder, World


def test_a_halt_during_a_round_finishes_the_call_under_way_and_gives_the_others_back(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    console = w.providers["console"]
    first, second = w.open("db-1", "db-2")
    console.before = lambda _: w.dispatcher.halt()  # the stop arrives while the first page is being sent

    assert w.settle() == 2  # one round looked at both pages
    assert [m.incident for _, m in console.sent] == [first]
    assert w.row(first).status == SENT
    given_back = w.row(second)
    assert (given_back.status, given_back.not_before, given_back.attempts) == (PENDING, w.clock.now(), 0)
    assert w.dispatcher.drain() == 0  # a halted dispatcher plans no further round

    survivor = World(w.app, w.clock, ["console"])  # another instance, or this one started again
    assert survivor.settle() == 1
    assert [m.incident for _, m in survivor.providers["console"].sent] == [second]
    assert w.row(second).status == SENT
