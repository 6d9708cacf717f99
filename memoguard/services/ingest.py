"""Ingesting alarms: each one is stored and opens, joins or resolves an incident.

The caller answers the source only once its alarms are committed, so a 2xx always means committed. A
batch (an Alertmanager payload) is all or nothing.

Group commit: one writer thread takes every request queued while it wrote the previous group and writes
them in one transaction: one read of the open incidents of all their dedup keys, the decisions (in
(source, dedup key) order, so that two instances lock the same incidents in the same order), one insert
of all the alarms. A commit (an fsync on SQLite) and a statement's round trip are the dear parts
of a small write, so concurrent sources share them instead of queueing for one each. If a group fails,
each of its requests is written again alone, in its own transaction: a request that cannot be stored
takes only its own alarms with it, and none is answered before its own commit.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

from memoguard.config.model import Config
from memoguard.domain.event import AlarmAttached, Resolved, Triggered
from memoguard.domain.incident import Incident, IncidentState
from memoguard.domain.route import first_match
from memoguard.domain.silence import Silence, holding
from memoguard.services.clock import Clock
from memoguard.services.escalator import Escalator
from memoguard.services.logfields import ids
from memoguard.services.metrics import NO_METRICS, Metrics
from memoguard.services.record import (
    Alarm,
    AlarmStatus,
    NewIncident,
    OpenIncident,
    Outcome,
    Receipt,
    StoredAlarm,
)
from memoguard.services.store import OpenIncidentExists, Store, Unit

log = logging.getLogger(__name__)

# Alarms written in one transaction at most (a request is never split). Kept small: on SQLite every other
# writer (the dispatcher recording a page) waits for the group's commit.
GROUP_ALARMS = 200
# How long the writer thread waits for more requests before it ends (the next request starts another).
IDLE_SECONDS = 1.0

Key = tuple[str, str]


@dataclass(eq=False)
class _Request:
    alarms: Sequence[Alarm]
    future: Future[list[Receipt]] = field(default_factory=Future)
    answered: bool = True  # False once the caller gave up waiting (its future was cancelled)


class Ingest:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        config: Config,
        escalator: Escalator,
        *,
        idle: float = IDLE_SECONDS,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._idle = idle
        self._clock = clock
        self._config = config
        self._escalator = escalator
        self._queued: deque[_Request] = deque()
        self._work = threading.Condition()
        self._writer: threading.Thread | None = None

    def submit(self, alarms: Sequence[Alarm]) -> Future[list[Receipt]]:
        """Queue the alarms for the writer; the future is done once they are committed (thread-safe).
        A cancelled future still has its alarms written: only the answer is lost, and a source that
        gave up sends them again, which the dedup key absorbs."""
        request = _Request(alarms)
        with self._work:
            self._queued.append(request)
            if self._writer is None:
                self._start_writer()
            else:
                self._work.notify()
        return request.future

    def _start_writer(self) -> None:
        self._writer = threading.Thread(target=self._write_queued, name="memoguard-ingest", daemon=True)
        self._writer.start()

    def receive(self, alarms: Sequence[Alarm]) -> list[Receipt]:
        """Store the alarms and act on them; returns once they are committed (thread-safe)."""
        return self.submit(alarms).result()

    @property
    def waiting(self) -> int:
        """Requests queued for the next group commit."""
        with self._work:
            return len(self._queued)

    def _write_queued(self) -> None:
        try:
            while True:
                with self._work:
                    if not self._queued:
                        self._work.wait(self._idle)
                    if not self._queued:
                        self._writer = None
                        return
                    group = self._take()
                self._write(group)
        except BaseException:
            # Its group got the error; the requests queued behind it must not wait for a writer that is gone.
            with self._work:
                self._writer = None
                if self._queued:
                    self._start_writer()
            raise

    def _take(self) -> list[_Request]:
        group: list[_Request] = []
        size = 0
        while self._queued and (not group or size + len(self._queued[0].alarms) <= GROUP_ALARMS):
            request = self._queued.popleft()
            request.answered = request.future.set_running_or_notify_cancel()
            group.append(request)
            size += len(request.alarms)
        return group

    def _write(self, group: list[_Request]) -> None:
        try:
            receipts = self.write_group([request.alarms for request in group])
        except Exception as error:
            if len(group) == 1:
                _settle(group[0], error=error)
                return
            log.warning("a group of %d alarm requests failed (%s); writing each alone", len(group), error)
            for request in group:
                self._write([request])
            return
        except BaseException as error:
            for request in group:
                _settle(request, error=error)
            raise
        for request, mine in zip(group, receipts, strict=True):
            _settle(request, receipts=mine)

    def write_group(self, batches: Sequence[Sequence[Alarm]]) -> list[list[Receipt]]:
        """Write these requests' alarms in one transaction, in the calling thread, and return each one's
        receipts (what the writer thread does with each group; for benchmarks and tools)."""
        alarms = [alarm for batch in batches for alarm in batch]
        with self._store.write() as unit:
            receipts = self.store_in(unit, alarms)
        self._metrics.group(len(alarms))
        for alarm, receipt in zip(alarms, receipts, strict=True):
            self._metrics.alarm(alarm.source, receipt.outcome.value)
        split: list[list[Receipt]] = []
        for batch in batches:
            split.append(receipts[: len(batch)])
            receipts = receipts[len(batch) :]
        return split

    def store_in(self, unit: Unit, alarms: Sequence[Alarm]) -> list[Receipt]:
        """Decide and store ``alarms`` in the caller's transaction (a heartbeat's miss or ping is decided
        with its row held: services/deadman.py); the receipts in the alarms' order."""
        # Decided in (source, dedup key) order, not in the payloads' order: an incident's row is locked (or,
        # new, its key taken) when it is decided, so two instances writing crossing batches ([a, b] and
        # [b, a]) would each hold one key and wait for the other's, a deadlock PostgreSQL ends by failing one
        # of them. A stable sort: the alarms of one key keep their order (firing, then resolved). The alarms
        # are stored, and the receipts returned, in the requests' order.
        order = sorted(range(len(alarms)), key=lambda i: (alarms[i].source, alarms[i].dedup_key))
        found = unit.open_incidents([(alarm.source, alarm.dedup_key) for alarm in alarms])
        # Read with the incidents held (SQLite's write lock, PostgreSQL's row locks): a wait for a lock
        # must not come off the ack window of the step these alarms start.
        now = self._clock.now()
        unit.overrides_in_force([r.name for f in found.values() for r in f.incident.rosters], now)
        silences = (*self._config.silences, *unit.silences(now))
        decided = {i: self._one(unit, alarms[i], now, found, silences) for i in order}
        written = [decided[i] for i in range(len(alarms))]
        ids = unit.add_alarms(written, now)
        return [Receipt(i, stored.outcome, stored.incident) for i, stored in zip(ids, written, strict=True)]

    def _one(
        self, unit: Unit, alarm: Alarm, now: datetime, found: dict[Key, OpenIncident], silences: Sequence[Silence]
    ) -> StoredAlarm:
        """Decide one alarm; ``found`` holds the open incidents of the group's keys, as decided so far.
        A new incident a silence matches is opened silenced (domain/silence.py): stored, nobody paged."""
        key = (alarm.source, alarm.dedup_key)
        current = found.get(key)
        if alarm.status == AlarmStatus.RESOLVED:
            return self._resolved(unit, alarm, current, found, now)
        if current is not None:
            incident, _ = self._escalator.apply(unit, current.incident, AlarmAttached(alarm.summary), now)
            _keep(found, key, current._replace(incident=incident))
            return StoredAlarm(alarm, incident.id, Outcome.ATTACHED)
        route = first_match(self._config.routes, alarm.source, alarm.severity, alarm.labels)
        if route is None:
            log.warning(
                "alarm %s/%s matches no route: stored, nobody paged",
                alarm.source,
                alarm.dedup_key,
                extra=ids(source=alarm.source),
            )
            return StoredAlarm(alarm, None, Outcome.UNROUTED)
        policy = self._config.policy(route.policy)
        rosters = tuple(self._config.roster(name) for name in sorted(policy.roster_names))
        draft = NewIncident(
            summary=alarm.summary,
            severity=alarm.severity,
            source=alarm.source,
            dedup_key=alarm.dedup_key,
            resolve_by_source=route.resolve,
            policy=policy,
            rosters=rosters,
            opened_at=now,
        )
        try:
            incident_id = unit.create_incident(draft)
        except OpenIncidentExists:
            # Another instance opened it since the group's read: join it like any duplicate.
            found.update(unit.open_incidents([key]))
            if key not in found:
                raise
            return self._one(unit, alarm, now, found, silences)
        incident = Incident(incident_id, alarm.summary, policy, rosters, now, severity=alarm.severity)
        unit.add_entry(incident_id, now, "alarm", f"Alarm from {alarm.source}: {alarm.summary}", None)
        if alarm.links:
            text = "\n".join(f"{what}: {url}" for what, url in alarm.links)
            unit.add_entry(incident_id, now, "links", text[:2000], None)
        hold = holding(silences, alarm.source, alarm.severity, alarm.labels, now)
        incident, _ = self._escalator.apply(unit, incident, Triggered() if hold is None else hold.event(), now)
        _keep(found, key, OpenIncident(incident, route.resolve))
        log.info(
            "incident %s opened%s by %s/%s (policy %s): %s",
            incident_id,
            "" if hold is None else f" silenced ({hold.silence.id})",
            alarm.source,
            alarm.dedup_key,
            policy.name,
            alarm.summary,
            extra=ids(incident_id, source=alarm.source, policy=policy.name),
        )
        return StoredAlarm(alarm, incident_id, Outcome.OPENED if hold is None else Outcome.SILENCED)

    def _resolved(
        self, unit: Unit, alarm: Alarm, current: OpenIncident | None, found: dict[Key, OpenIncident], now: datetime
    ) -> StoredAlarm:
        if current is None:
            return StoredAlarm(alarm, None, Outcome.IGNORED)
        incident_id = current.incident.id
        if not current.resolve_by_source:
            text = f"{alarm.source} reports the alarm resolved; its route leaves resolving to a person"
            unit.add_entry(incident_id, now, "source_resolved", text, None)
            return StoredAlarm(alarm, incident_id, Outcome.IGNORED)
        unit.add_entry(incident_id, now, "source_resolved", f"{alarm.source} reports the alarm resolved", None)
        incident, _ = self._escalator.apply(unit, current.incident, Resolved(via=alarm.source), now)
        _keep(found, (alarm.source, alarm.dedup_key), current._replace(incident=incident))
        return StoredAlarm(alarm, incident_id, Outcome.RESOLVED)


def _keep(found: dict[Key, OpenIncident], key: Key, decided: OpenIncident) -> None:
    """Remember the incident as decided, for the next alarms of the group; a resolved one is no longer open."""
    if decided.incident.state == IncidentState.RESOLVED:
        found.pop(key, None)
    else:
        found[key] = decided


def _settle(request: _Request, receipts: list[Receipt] | None = None, error: BaseException | None = None) -> None:
    if not request.answered:
        return
    if error is not None:
        request.future.set_exception(error)
    else:
        request.future.set_result(receipts or [])
