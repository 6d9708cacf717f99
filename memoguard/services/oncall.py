"""Who is on call at an instant, with when their stretch started and ends."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from memoguard.domain.roster import Roster

# How far to look back for the start of the current stretch and ahead for its end.
LOOKAHEAD = timedelta(days=62)


def stretch(roster: Roster, level: str, at: datetime) -> dict[str, Any]:
    """``person`` (None in a gap), ``source`` (layer or override), ``from``/``until`` (None: beyond the
    look-around window). Raises UnknownLevelError for a level the roster does not have."""
    segments = roster.segments(at, at + LOOKAHEAD, level)
    before = roster.segments(at - LOOKAHEAD, at + timedelta(microseconds=1), level)
    current = segments[0]
    last = before[-1] if before else None
    same = last is not None and (last.person, last.source) == (current.person, current.source)
    # A stretch that reaches back to the start of the look-back window started earlier than we looked: unknown.
    started = last.start if last is not None and same and last.start > at - LOOKAHEAD else None
    return {
        "roster": roster.name,
        "level": level,
        "person": current.person,
        "source": current.source,
        "from": started,
        "until": current.end if current.end < at + LOOKAHEAD else None,
    }


def everyone(rosters: Iterable[Roster], at: datetime, level: str | None = None) -> list[dict[str, Any]]:
    return [stretch(r, name, at) for r in rosters for name in ([level] if level else r.level_names)]
