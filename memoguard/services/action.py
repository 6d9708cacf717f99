"""What people do to an incident from the API or the CLI: acknowledge, confirm, resolve, escalate.

The acting person must exist in the configuration. With a person's own credential (an API token, a
web session: ``Context.any_incident``) anyone may act on any incident, as themself (issue 23: a
colleague who sees an incident may take it; the timeline and the audit name them). Elsewhere (the CLI,
SMS replies, e-mail links) an admin may act on any incident, a responder on those they were paged for
(the state machine's rule). An admin may also act on behalf of another person
(``Context.actor``, with a mandatory reason): the timeline names the person and the admin. Every
accepted action writes an audit row (services/access.py) in its own transaction, whatever the path:
API token, SMS reply, CLI, e-mail link. When the state
machine refuses (not paged, incident resolved) the transaction is rolled back and ``Refused`` says why,
so a refused request changes nothing. A repeated ack is not refused: it is a recorded no-op.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from memoguard.domain.effect import Record
from memoguard.domain.event import Acked, Confirmed, EscalateRequested, Event, Resolved
from memoguard.domain.incident import Incident, IncidentState
from memoguard.domain.person import Person
from memoguard.services.access import Context
from memoguard.services.clock import Clock
from memoguard.services.error import Invalid, NotFound, Refused
from memoguard.services.escalator import Escalator
from memoguard.services.metrics import NO_METRICS, Metrics
from memoguard.services.record import AuditEntry
from memoguard.services.store import Store

ACKED = (IncidentState.ACKNOWLEDGED, IncidentState.CONFIRMED)  # states that end "time to acknowledge"


class Verb(StrEnum):
    ACK = "ack"
    CONFIRM = "confirm"
    RESOLVE = "resolve"
    ESCALATE = "escalate"


@dataclass(frozen=True)
class Outcome:
    incident: Incident
    records: tuple[Record, ...]

    @property
    def changed(self) -> bool:
        return not any(r.kind == "duplicate" for r in self.records)


def _event(verb: Verb, person: str, admin: bool, via: str) -> Event:
    match verb:
        case Verb.ACK:
            return Acked(person, admin, via)
        case Verb.CONFIRM:
            return Confirmed(person, admin, via)
        case Verb.ESCALATE:
            return EscalateRequested(person, admin, via)
        case Verb.RESOLVE:
            return Resolved(person, admin, via)


class _Rollback(Exception):
    def __init__(self, refusal: Refused) -> None:
        self.refusal = refusal


class Actions:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        people: Mapping[str, Person],
        escalator: Escalator,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._people = people
        self._escalator = escalator

    def act(self, incident_id: str, verb: Verb, person: str, via: str, context: Context | None = None) -> Outcome:
        """``context`` says how the action came in, for the audit (by default: ``via``, lower case)."""
        who = self._people.get(person)
        if who is None:
            known = ", ".join(sorted(self._people))
            raise Invalid(f"unknown person {person!r} (people: {known})")
        context = context or Context(via.lower())
        admin = who.admin or context.any_incident  # the event's ``admin``: may act without having been paged
        detail = ""
        if context.actor is not None and context.actor != person:
            actor = self._people.get(context.actor)
            if actor is None or not actor.admin:
                raise Refused(f"{context.actor} may act only as themself: only an admin acts on behalf of another")
            if not context.reason:
                raise Invalid(f"a reason is required to act on behalf of {person}")
            admin = True
            detail = f"on behalf of {person}: {context.reason}"
        try:
            with self._store.write() as unit:
                incident = unit.incident(incident_id)
                if incident is None:
                    raise NotFound(f"no incident {incident_id!r}")
                # Read with the incident held (SQLite's write lock, PostgreSQL's row lock): a wait for the
                # lock must not come off the ack or confirm window this decision starts.
                now = self._clock.now()
                decided, effects = self._escalator.apply(unit, incident, _event(verb, person, admin, via), now)
                records = tuple(e for e in effects if isinstance(e, Record))
                refusal = next((r for r in records if r.kind in ("refused", "ignored")), None)
                if refusal is not None:
                    closed = refusal.kind == "ignored" or not incident.is_open
                    raise _Rollback(Refused(refusal.text, closed=closed))
                if any(r.kind == "duplicate" for r in records):
                    detail = "; ".join(filter(None, [detail, "repeat, nothing changed"]))
                entry = AuditEntry(
                    now, context.actor or person, verb.value, context.how, context.address, incident_id, detail
                )
                unit.add_audit(entry)
        except _Rollback as rollback:
            raise rollback.refusal from None
        if incident.state == IncidentState.TRIGGERED and decided.state in ACKED:
            self._metrics.acknowledged(max((now - incident.opened_at).total_seconds(), 0.0))
        return Outcome(decided, records)

    def act_on_bundle(
        self, code: int, verb: Verb, person: str, via: str, context: Context | None = None
    ) -> dict[str, Outcome | Refused]:
        """Apply ``verb`` to every incident of ``person``'s latest storm bundle with this ``code`` (the code
        in "reply 100a to acknowledge them all"). Each incident is its own transaction: one refusal (an
        incident resolved since) does not undo the others; the result says what happened to each."""
        if person not in self._people:
            known = ", ".join(sorted(self._people))
            raise Invalid(f"unknown person {person!r} (people: {known})")
        with self._store.read() as unit:
            bundle = unit.bundle(person, code)
            incidents = unit.bundle_incidents(bundle.id) if bundle is not None else []
        if bundle is None or not incidents:
            raise NotFound(f"{person} has no bundle {code}")
        results: dict[str, Outcome | Refused] = {}
        for incident in incidents:
            try:
                results[incident] = self.act(incident, verb, person, f"{via}, bundle {code}", context)
            except Refused as refusal:
                results[incident] = refusal
        return results
