"""The console's live feed (services/feed.py) on every database: entries in id order after a cursor, and
a gap in the ids held back until it can no longer fill (a transaction still committing may own it), then
passed over once the entry after it is older than ``settle``: a rolled-back insert leaves such a gap."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import create_engine, text

from memoguard.services.feed import Feed
from tests.integration import test_signin
from tests.integration.test_signin import Web

web = test_signin.web  # the fixture: the service test configuration served, and a browser on it


def _note(w: Web, incident: str, what: str) -> int:
    with w.application.store.write() as unit:
        unit.add_entry(incident, w.clock.now(), "note", what, None)
    with w.application.store.read() as unit:
        return unit.last_entry()


def test_entries_after_a_cursor_in_id_order_and_a_gap_held_until_it_settles(web: Any, database_url: str) -> None:
    with web() as w:
        incident = w.open_incident()
        feed = Feed(w.application.store, w.clock, settle=timedelta(seconds=30))
        head = feed.head()
        assert [e.id for e in feed.after(0).entries][-1] == head
        assert feed.after(head).entries == [] and feed.after(head).cursor == head

        one, two, three = (_note(w, incident, f"note {n}") for n in (1, 2, 3))
        batch = feed.after(head)
        assert [e.text for e in batch.entries] == ["note 1", "note 2", "note 3"] and batch.cursor == three
        assert [e.text for e in feed.after(one).entries] == ["note 2", "note 3"]
        assert len(feed.after(head, limit=2).entries) == 2 and feed.after(head, limit=2).cursor == two

        # Entry ``two`` not visible (yet, or ever): the feed stops before the gap…
        engine = create_engine(database_url)
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM timeline WHERE id = :id"), {"id": two})
        engine.dispose()
        held = feed.after(head)
        assert [e.text for e in held.entries] == ["note 1"] and held.cursor == one
        assert feed.head() == one  # a page rendered now streams from before the gap, not past it
        assert feed.after(one).entries == [] and feed.after(one).cursor == one
        # …until the entry after the gap is older than ``settle``: then it is a gap for good.
        w.clock.advance(timedelta(seconds=31))
        assert [e.text for e in feed.after(one).entries] == ["note 3"]
