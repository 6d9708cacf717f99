"""Heartbeats of the monitoring (dead man's switches): a source that must ping, and what its silence does.

Not ``services/heartbeat.py``: that one is memoguard's *own* engine telling CLI commands it runs
(``engine_beat``). This one watches the *outside*: a source declaring ``heartbeat: 5m`` (and ``grace``)
in memoguard.yaml must ping ``POST /api/v1/heartbeats/NAME`` with its token at least that often (a
cron job's last line, Alertmanager's always-firing Watchdog alert). When a ping is late by more than
the grace, an incident opens through the routes like any alarm of that source (a synthetic alarm,
dedup key ``memoguard:heartbeat``, label ``heartbeat: NAME``), and the next ping resolves it.

The check is durable and fenced like escalation timers: each heartbeat's row holds its deadline, and
the engine's timer loop claims due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) in the transaction
that opens the incident and marks the row missed, so a restart in between loses nothing and several
instances open one incident. A missed row keeps a deadline one period on: someone resolving the
incident by hand while the source is still dead does not silence it for good, the next deadline opens
a new incident (while the incident is open, the deadline is only pushed on). A heartbeat never
pinged starts its first period when the engine first declares it, so a new heartbeat (or a new
database) is given one full period before it can miss.
Changing the period in memoguard.yaml applies from the next ping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from memoguard.config.model import HEARTBEAT_SEVERITY, Config, heartbeat_labels
from memoguard.domain.duration import format_duration
from memoguard.services.clock import Clock
from memoguard.services.error import NotFound
from memoguard.services.ingest import Ingest
from memoguard.services.record import Alarm, AlarmStatus, Pulse, PulseState, Receipt
from memoguard.services.store import Store

BATCH = 50
DEDUP_KEY = "memoguard:heartbeat"


@dataclass(frozen=True)
class Ping:
    """What a ping did: the heartbeat after it, and the receipt of the alarm that resolved its miss."""

    pulse: Pulse
    resolved: Receipt | None = None


@dataclass(frozen=True)
class PulseStatus:
    """A configured heartbeat as ``memoguard heartbeats`` shows it (``pulse`` None: not declared yet)."""

    name: str
    every: timedelta
    grace: timedelta
    pulse: Pulse | None

    def describe(self) -> dict[str, object]:
        pulse = self.pulse

        def when(at: datetime | None) -> str | None:
            return None if at is None else at.isoformat()

        return {
            "name": self.name,
            "every": format_duration(self.every),
            "grace": format_duration(self.grace),
            "state": "undeclared" if pulse is None else pulse.state.value,
            "since": when(pulse.since) if pulse else None,
            "last_ping": when(pulse.last_ping) if pulse else None,
            "deadline": when(pulse.deadline) if pulse else None,
            "incident": pulse.incident if pulse else None,
        }


class Deadman:
    def __init__(self, store: Store, clock: Clock, config: Config, ingest: Ingest) -> None:
        self._store = store
        self._clock = clock
        self._ingest = ingest
        self._rules: Mapping[str, tuple[timedelta, timedelta]] = config.heartbeats()

    @property
    def names(self) -> list[str]:
        return sorted(self._rules)

    def declare(self) -> int:
        """Give each configured heartbeat without a row its first deadline (engine start); returns how many."""
        if not self._rules:
            return 0
        with self._store.write() as unit:
            now = self._clock.now()
            pulses = unit.pulses(self.names)
            known = {p.name for p in pulses}
            new = [self._fresh(name, now) for name in self.names if name not in known]
            unit.add_pulses(new)
            # A row missed under an earlier version has no deadline (issue 17): without one it never looks again.
            for pulse in pulses:
                if pulse.state == PulseState.MISSED and pulse.deadline is None:
                    unit.save_pulse(replace(pulse, deadline=self._deadline(pulse.name, now)))
        return len(new)

    def _fresh(self, name: str, now: datetime) -> Pulse:
        return Pulse(name, PulseState.WAITING, now, None, self._deadline(name, now))

    def _deadline(self, name: str, at: datetime) -> datetime:
        every, grace = self._rules[name]
        return at + every + grace

    def ping(self, name: str) -> Ping:
        """The source ``name`` is alive: push its deadline on, and resolve its miss if it had one."""
        if name not in self._rules:
            raise NotFound(f"no heartbeat {name!r}: no source declares one by that name")
        with self._store.write() as unit:
            pulse = unit.pulse_for_update(name)
            now = self._clock.now()  # with the row held
            if pulse is None:
                unit.add_pulses([self._fresh(name, now)])
                pulse = unit.pulse_for_update(name)
                assert pulse is not None
            since = pulse.since if pulse.state == PulseState.UP else now
            after = Pulse(name, PulseState.UP, since, now, self._deadline(name, now), pulse.incident)
            unit.save_pulse(after)
            resolved = None
            if pulse.state == PulseState.MISSED:
                late = "" if pulse.last_ping is None else f" (last ping before it {pulse.last_ping:%Y-%m-%d %H:%M:%S}Z)"
                alarm = Alarm(
                    name, DEDUP_KEY, AlarmStatus.RESOLVED, HEARTBEAT_SEVERITY, f"heartbeat {name} pinged again{late}"
                )
                resolved = self._ingest.store_in(unit, [alarm])[0]
        return Ping(after, resolved)

    def check_due(self, limit: int = BATCH) -> int:
        """Open an incident for each heartbeat past its deadline (up to ``limit``); returns how many rows
        were due. A missed heartbeat keeps a deadline one period on: if its incident was resolved (by
        hand) while no ping came, the next one opens a new incident, so a source still dead is never
        forgotten; while its incident is open, the deadline is only pushed on."""
        if not self._rules:
            return 0
        with self._store.write() as unit:
            due = unit.claim_due_pulses(self.names, self._clock.now(), limit)
            if not due:
                return 0
            now = self._clock.now()  # with the rows held
            still: list[Pulse] = []
            fresh: list[Pulse] = []
            for pulse in due:
                row = unit.incident_row(pulse.incident) if pulse.incident is not None else None
                if pulse.state == PulseState.MISSED and row is not None and row.incident.is_open:
                    still.append(pulse)
                else:
                    fresh.append(pulse)
            for pulse in still:
                unit.save_pulse(replace(pulse, deadline=self._deadline(pulse.name, now)))
            receipts = self._ingest.store_in(unit, [self._missed(pulse) for pulse in fresh]) if fresh else []
            for pulse, receipt in zip(fresh, receipts, strict=True):
                since = pulse.since if pulse.state == PulseState.MISSED else now
                unit.save_pulse(
                    replace(
                        pulse,
                        state=PulseState.MISSED,
                        since=since,
                        deadline=self._deadline(pulse.name, now),
                        incident=receipt.incident,
                    )
                )
        return len(due)

    def _missed(self, pulse: Pulse) -> Alarm:
        every, grace = self._rules[pulse.name]
        period = f"expected every {format_duration(every)}, grace {format_duration(grace)}"
        if pulse.last_ping is None:
            what = f"never pinged since it was declared at {pulse.since:%Y-%m-%d %H:%M:%S}Z"
        else:
            what = f"no ping since {pulse.last_ping:%Y-%m-%d %H:%M:%S}Z"
        summary = f"heartbeat {pulse.name} missed: {what} ({period})"
        if pulse.state == PulseState.MISSED:
            summary = f"heartbeat {pulse.name} still missed, its last incident was resolved: {what} ({period})"
        labels = heartbeat_labels(pulse.name)
        return Alarm(pulse.name, DEDUP_KEY, AlarmStatus.FIRING, HEARTBEAT_SEVERITY, summary, labels=labels)

    def next_due(self) -> datetime | None:
        if not self._rules:
            return None
        with self._store.read() as unit:
            return unit.next_pulse_due(self.names)

    def status(self) -> list[PulseStatus]:
        """Every configured heartbeat, by name."""
        with self._store.read() as unit:
            pulses = {p.name: p for p in unit.pulses(self.names)} if self._rules else {}
        return [PulseStatus(name, *self._rules[name], pulses.get(name)) for name in self.names]
