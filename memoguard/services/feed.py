"""The web console's live feed (issue 18): every timeline entry, of every incident, in id order after a
cursor; the cursor is the server-sent events' ``id``, so a browser that reconnects with
``Last-Event-ID`` resumes where it stopped and misses nothing.

Why the timeline: every change a person sees (an incident opened, paged, acknowledged, escalated,
resolved, a receipt, a reply) writes an entry, in the same transaction as the change, so "entries
after N" is "changes after N" without a table of its own.

Ids are handed out when a row is inserted, not when its transaction commits: on PostgreSQL, with
several writers (and several instances), entry 12 may become visible after entry 13. Moving the cursor
past 13 then would skip 12 for good. So the feed stops at the first gap in the ids and waits for it to
fill; a gap that stays (a rolled-back transaction also consumes ids) is passed over once the entry
after it is older than ``settle``, longer than any transaction that writes the timeline takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from memoguard.services.clock import Clock
from memoguard.services.record import TimelineEntry
from memoguard.services.store import Store

SETTLE = timedelta(seconds=30)
BATCH = 200


@dataclass(frozen=True)
class Batch:
    entries: list[TimelineEntry]
    cursor: int  # the id the next read starts after (the last entry's, or the cursor given)


class Feed:
    def __init__(self, store: Store, clock: Clock, settle: timedelta = SETTLE) -> None:
        self._store = store
        self._clock = clock
        self._settle = settle

    def head(self) -> int:
        """The cursor of "from now on": a page rendered now and streaming from here misses nothing. Not
        the highest id itself: an entry below it whose transaction is still committing would be behind
        the cursor for good, so the same rule as ``after`` holds it at the first gap that may still fill."""
        with self._store.read() as unit:
            last = unit.last_entry()
        return self.after(max(0, last - BATCH)).cursor

    def after(self, cursor: int, limit: int = BATCH) -> Batch:
        """The entries after ``cursor`` that are safe to hand out: up to the first gap in the ids that
        may still fill (see the module's docstring)."""
        with self._store.read() as unit:
            found = unit.timeline_after(max(0, cursor), limit)
        settled = self._clock.now() - self._settle
        out: list[TimelineEntry] = []
        expected = max(0, cursor) + 1
        for item in found:
            if item.id != expected and item.at > settled:
                break  # a lower id may still commit: wait for it
            out.append(item)
            expected = item.id + 1
        return Batch(out, out[-1].id if out else cursor)
