"""Maintenance windows made at run time (``memoguard silence add``, ``POST /api/v1/silences``) beside the
recurring ones of memoguard.yaml, and the list of both. What a silence does to an alarm is the domain's
(``domain/silence.py``) and ingestion's (``services/ingest.py``).

Adding and removing are admin acts (issue 23's roles) and audited (``silence-add``, ``silence-remove``)
with who, how and from where. A silence needs a comment: it is what the timeline of every incident it
holds shows, and what tells the next person why nobody was paged. It needs a matcher too: a silence
matching every alarm would hold every page of the site. Removing a silence stops it holding new alarms,
and the incidents it held that no other window holds escalate at once (``silence_removed`` on their
timeline, then what the window's end does): the work is over, what still fires must page. The same goes
for a window deleted from memoguard.yaml: the engine calls ``release_unheld`` once for each configuration
it runs (at start and after each reload), which escalates every silenced incident no window holds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from memoguard.config.model import Config
from memoguard.domain.event import TimerFired, TimerKind
from memoguard.domain.incident import IncidentState
from memoguard.domain.silence import Matcher, Silence, holding
from memoguard.services.access import Context
from memoguard.services.clock import Clock
from memoguard.services.error import Invalid, NotFound, Refused
from memoguard.services.escalator import Escalator
from memoguard.services.record import AuditEntry
from memoguard.services.store import Store, Unit

MAX_COMMENT = 1000
MAX_LENGTH = timedelta(days=366)  # a longer window is a route change, not maintenance
RELEASE_BATCH = 200  # silenced incidents looked at per transaction when releasing (the newest first)


@dataclass(frozen=True)
class SilenceView:
    """A silence as listed: ``window`` is the occurrence in force or next known (None: over)."""

    silence: Silence
    active: bool
    window: tuple[datetime, datetime] | None

    def describe(self) -> dict[str, object]:
        s = self.silence
        return {
            "id": s.id,
            "match": s.matcher.describe(),
            "sources": sorted(s.matcher.sources),
            "severities": sorted(s.matcher.severities),
            "labels": dict(s.matcher.labels),
            "comment": s.comment,
            "recurring": s.every is not None,
            "active": self.active,
            "starts_at": self.window[0].isoformat() if self.window else None,
            "ends_at": self.window[1].isoformat() if self.window else None,
            "created_by": s.created_by,
            "removed_at": s.removed_at.isoformat() if s.removed_at else None,
        }


def parse_matches(pairs: list[str]) -> Matcher:
    """``KEY=VALUE`` pairs: ``source`` and ``severity`` (repeatable) match those, any other key a label."""
    sources: set[str] = set()
    severities: set[str] = set()
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise Invalid(f"invalid match {pair!r}: expected KEY=VALUE, such as host=db1 or source=prometheus")
        if key == "source":
            sources.add(value)
        elif key == "severity":
            severities.add(value)
        elif labels.get(key, value) != value:
            raise Invalid(f"label {key!r} matched twice ({labels[key]!r} and {value!r}): an alarm has one value")
        else:
            labels[key] = value
    return Matcher(frozenset(sources), frozenset(severities), tuple(sorted(labels.items())))


class Silences:
    def __init__(self, store: Store, clock: Clock, config: Config, escalator: Escalator) -> None:
        self._escalator = escalator
        self._store = store
        self._clock = clock
        self._config = config

    def add(
        self, matcher: Matcher, length: timedelta, comment: str, context: Context, starts: datetime | None = None
    ) -> Silence:
        """A window of ``length`` from ``starts`` (default now), by ``context.actor``."""
        comment = comment.strip()
        if not comment or len(comment) > MAX_COMMENT:
            raise Invalid(f"a silence needs a comment of 1 to {MAX_COMMENT} characters: why nobody is paged")
        if not (matcher.sources or matcher.severities or matcher.labels):
            raise Invalid(
                "a silence needs at least one match (source=, severity= or a label): none would hold every alarm"
            )
        unknown = sorted(matcher.sources - set(self._config.sources))
        if unknown:
            raise Invalid(
                f"unknown source {unknown[0]!r} (sources: {', '.join(sorted(self._config.sources)) or 'none'})"
            )
        if not timedelta() < length <= MAX_LENGTH:
            raise Invalid(f"a silence lasts more than 0s and at most {MAX_LENGTH.days} days")
        now = self._clock.now()
        start = now if starts is None else starts
        if start + length <= now:
            raise Invalid(
                f"this silence would already be over: it would end at {start + length:%Y-%m-%d %H:%M}Z, "
                "before now; start it later or make it longer"
            )
        if start > now + MAX_LENGTH:
            raise Invalid(f"a silence starts at most {MAX_LENGTH.days} days ahead")
        draft = Silence(
            "",
            matcher,
            comment,
            start,
            start + length,
            created_by=context.actor or context.address or context.how,
            created_at=now,
        )
        with self._store.write() as unit:
            number = unit.add_silence(draft)
            detail = f"{matcher.describe()} from {start:%Y-%m-%d %H:%M}Z to {start + length:%Y-%m-%d %H:%M}Z: {comment}"
            unit.add_audit(
                AuditEntry(now, context.actor, "silence-add", context.how, context.address, f"silence {number}", detail)
            )
        return replace(draft, id=str(number))

    def remove(self, silence: str, context: Context) -> Silence:
        if silence.startswith("yaml:"):
            raise Refused(f"silence {silence} is declared in memoguard.yaml: remove it there")
        number = int(silence) if silence.isdigit() else 0
        now = self._clock.now()
        with self._store.write() as unit:
            found = unit.silence(number)
            if found is None:
                raise NotFound(f"no silence {silence}")
            release = found.removed_at is None
            if release:
                unit.remove_silence(number, now, context.actor)
                unit.add_audit(
                    AuditEntry(
                        now,
                        context.actor,
                        "silence-remove",
                        context.how,
                        context.address,
                        f"silence {number}",
                        f"{found.matcher.describe()}: {found.comment}",
                    )
                )
            removed = unit.silence(number)
        assert removed is not None
        # In batches, after the removal is committed: a failure half-way leaves the rest to the engine's
        # periodic look (engine/runtime.py, every minute), or to removing it again, which releases what is left.
        self.release_unheld(found)
        return removed

    def release_unheld(self, removed: Silence | None = None) -> int:
        """Escalate now every silenced incident that no window holds any more; returns how many.

        ``removed``: the run-time silence just removed (its timeline then says so). Without it, the
        engine's sweep after a start or a reload: a window deleted from memoguard.yaml (or whose match
        changed) no longer exists, and what it held must not wait for the old window's end. All of them,
        newest first, in batches of RELEASE_BATCH, each batch its own transaction."""
        released = 0
        before: str | None = None
        while True:
            with self._store.write() as unit:
                rows = unit.incidents([IncidentState.SILENCED], RELEASE_BATCH, before)
                if rows:
                    before = rows[-1].incident.id
                    released += self._release(unit, [row.incident.id for row in rows], removed, self._clock.now())
            if len(rows) < RELEASE_BATCH:
                return released

    def _release(self, unit: Unit, held: list[str], removed: Silence | None, now: datetime) -> int:
        """Escalate now those of ``held`` still silenced that no window holds: the work is over (or was
        called off) and what still fires must page, not wait for the old end."""
        incidents = unit.incidents_by_id(held)  # locked on PostgreSQL
        unit.overrides_in_force([r.name for i in incidents.values() for r in i.rosters], now)
        windows = (*self._config.silences, *unit.silences(now))
        released = 0
        for incident in incidents.values():
            alarm = unit.held_alarm(incident.id)
            if incident.state != IncidentState.SILENCED or alarm is None or holding(windows, *alarm, now) is not None:
                continue
            if removed is not None and removed.matcher.matches(*alarm):
                text = f"{removed.describe()} was removed; no other window holds this incident"
            else:
                text = "the window that held this incident no longer exists (memoguard.yaml changed); no other holds it"
            unit.add_entry(incident.id, now, "silence_removed", text, None)
            self._escalator.apply(unit, incident, TimerFired(TimerKind.SILENCE_END, incident.version), now)
            released += 1
        return released

    def list(self, everything: bool = False) -> list[SilenceView]:
        """Those of memoguard.yaml, then the stored ones not over (``everything``: past and removed too)."""
        now = self._clock.now()
        with self._store.read() as unit:
            stored = unit.silences(None if everything else now)
        views = [SilenceView(s, (w := s.window_at(now)) is not None, w or _next(s, now)) for s in self._config.silences]
        for s in stored:
            window = s.window_at(now)
            shown = (s.starts_at, s.ends_at) if s.starts_at and s.ends_at else None
            views.append(SilenceView(s, window is not None, shown))
        return views


def _next(silence: Silence, now: datetime) -> tuple[datetime, datetime] | None:
    return None if silence.every is None else silence.every.next_window(now)
