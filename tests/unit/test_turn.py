"""The SQLite writer turns: first come, first served, re-entrant, and a waiter that gives up leaves the
queue. Real threads; each step waits on an event, never on a sleep."""

from __future__ import annotations

import threading

import pytest

from memoguard.adapters.storage.turn import Turns


def _waiter(turns: Turns, name: str, order: list[str], queued: threading.Event) -> threading.Thread:
    def run() -> None:
        queued.set()
        assert turns.acquire(10)
        order.append(name)
        turns.release()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _until_waiting(turns: Turns, count: int) -> None:
    for _ in range(2000):
        if len(turns._waiting) == count:
            return
        threading.Event().wait(0.005)
    raise AssertionError(f"{count} waiter(s) never queued")


def test_a_release_hands_the_turn_to_the_longest_waiter_not_back_to_the_releaser() -> None:
    turns = Turns()
    order: list[str] = []
    assert turns.acquire(1)
    first = _waiter(turns, "first", order, threading.Event())
    _until_waiting(turns, 1)
    second = _waiter(turns, "second", order, threading.Event())
    _until_waiting(turns, 2)
    turns.release()
    assert turns.acquire(10)  # asks again at once, as the timer loop does: served after both waiters
    order.append("releaser")
    turns.release()
    first.join(10)
    second.join(10)
    assert order == ["first", "second", "releaser"]


def test_the_holder_may_take_its_turn_again_inside_it() -> None:
    turns = Turns()
    assert turns.acquire(1)
    assert turns.acquire(1)
    turns.release()
    order: list[str] = []
    waiter = _waiter(turns, "waiter", order, threading.Event())
    _until_waiting(turns, 1)
    assert order == []  # still held once
    turns.release()
    waiter.join(10)
    assert order == ["waiter"]


def test_a_waiter_that_gives_up_leaves_the_queue_and_the_next_one_is_served() -> None:
    turns = Turns()
    assert turns.acquire(1)
    results: list[bool] = []
    impatient = threading.Thread(target=lambda: results.append(turns.acquire(0.05)), daemon=True)
    impatient.start()
    impatient.join(10)
    assert results == [False]
    assert len(turns._waiting) == 0
    order: list[str] = []
    waiter = _waiter(turns, "waiter", order, threading.Event())
    _until_waiting(turns, 1)
    turns.release()
    waiter.join(10)
    assert order == ["waiter"]


def test_releasing_a_turn_not_held_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="does not hold"):
        Turns().release()
