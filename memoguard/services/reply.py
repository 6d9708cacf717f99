"""SMS replies and delivery receipts, whatever the provider they came in by (SMPP, Twilio).

A reply acts only on incidents paged to the number it comes from, as the person that number was paged
as; a number no person has gets nothing back. Every reply from a known number is on the timeline of the
incident it names (or, when it names none, of the last incident paged to that number), and gets a short
answer in the person's language, sent back through the same provider. Answers to replies that do
nothing (not understood, unknown code, incident closed) are limited per number and hour, so a phone
stuck in an auto-reply loop with memoguard cannot run up a bill.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import phonenumbers

from memoguard.domain.incident import IncidentState
from memoguard.domain.person import Person
from memoguard.domain.policy import AckMode
from memoguard.domain.reply import Command, ReplyVerb, Unparsed, parse_reply
from memoguard.services.access import Context
from memoguard.services.action import Actions, Outcome, Verb
from memoguard.services.clock import Clock
from memoguard.services.dispatch.recording import Recorder, patiently, what
from memoguard.services.error import NotFound, Refused, ServiceError
from memoguard.services.inbox import DELIVERED, FAILED_STATES, Inbound, Receipt
from memoguard.services.logfields import ids
from memoguard.services.record import REPLY, NotificationDraft
from memoguard.services.renderer import Renderer
from memoguard.services.store import Store, Unit

log = logging.getLogger(__name__)

VIA = "sms reply"  # how the audit says an action came in (services/access.py ``Context``), from the number
IDLE_ANSWERS = 3  # answers per number and hour to replies that did nothing
IDLE_WINDOW = timedelta(hours=1)
REDELIVERY = timedelta(minutes=2)  # the same command again within this is the network repeating it
IDLE_KINDS = (
    "unparsed",
    "unknown_code",
    "none_open",
    "ambiguous",
    "closed",
    "refused",
    "duplicate",
    "stop_again",
    "start_again",
)


@dataclass
class _Answer:
    """What to tell the person, and on which incident's timeline it goes."""

    kind: str
    incident: str | None
    context: dict[str, Any] = field(default_factory=dict)


class Replies:
    """The ``Inbox`` of SMS providers: replies act on incidents, receipts update notifications."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        people: Mapping[str, Person],
        actions: Actions,
        renderer: Renderer,
        phone_region: str | None = None,
        receipt_wait: float = 0.0,
        recorder: Recorder | None = None,
    ) -> None:
        """``receipt_wait``: how many real seconds a receipt for an id not yet recorded is retried (the
        service gives the dispatcher's commit a moment; tests on a fake clock give none). ``recorder``:
        the dispatcher's, through which a page the network did not deliver fails over (without one, a
        receipt is only recorded)."""
        self._store = store
        self._clock = clock
        self._people = people
        self._actions = actions
        self._renderer = renderer
        self._region = phone_region
        self._receipt_wait = receipt_wait
        self._recorder = recorder
        self._by_phone: dict[str, list[Person]] = {}
        for person in people.values():
            if person.phone:
                self._by_phone.setdefault(person.phone, []).append(person)

    # --- replies

    def reply(self, message: Inbound) -> None:
        # A phone can send control characters (NUL in UCS-2), which PostgreSQL text refuses: a reply that
        # can never be stored would be redelivered by the SMSC forever.
        message = replace(message, text="".join(c if c.isprintable() else " " for c in message.text))
        phone = self.normalise(message.sender)
        owners = self._by_phone.get(phone or "", [])
        if phone is None or not owners:
            log.info(
                "SMS via %s from a number no person has (%s): ignored",
                message.provider,
                message.sender,
                extra=ids(provider=message.provider),
            )
            return
        parsed = parse_reply(message.text)
        now = self._clock.now()
        answer = self._handle(phone, owners, parsed, message, now)
        person = self._people.get(answer.context.get("person", ""), owners[0])
        if answer.kind == "redelivered":
            log.info(
                "SMS from %s (%s) came again: taken as a redelivery, not acted on twice",
                person.name,
                phone,
                extra=ids(provider=message.provider, person=person.name),
            )
            return
        if answer.incident is None:
            log.info(
                "SMS from %s (%s) via %s names no incident and none was paged to it",
                person.name,
                phone,
                message.provider,
                extra=ids(provider=message.provider, person=person.name),
            )
            return
        log.info(
            "SMS from %s via %s on incident %s: %s",
            person.name,
            message.provider,
            answer.incident,
            answer.kind,
            extra=ids(answer.incident, provider=message.provider, person=person.name),
        )
        try:
            self._answer(person, phone, answer, message.provider, now)
        except Exception:  # the reply was acted on: a failure here must not have the SMSC deliver it again
            log.exception(
                "could not queue the answer to %s's SMS on incident %s",
                person.name,
                answer.incident,
                extra=ids(answer.incident, provider=message.provider, person=person.name),
            )

    def normalise(self, sender: str) -> str | None:
        """The sender as E.164, or None when it is not a phone number (an alphanumeric sender)."""
        text = sender.strip()
        if not text.startswith("+") and self._region is None and text.isdigit():
            text = "+" + text  # a network without a region hint gives international numbers without "+"
        try:
            number = phonenumbers.parse(text, self._region)
        except phonenumbers.NumberParseException:
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def _handle(
        self, phone: str, owners: list[Person], parsed: Command | Unparsed, message: Inbound, now: datetime
    ) -> _Answer:
        quoted = " ".join(message.text.split())[:160]
        if isinstance(parsed, Unparsed):
            return self._note(phone, owners, quoted, message, now, _Answer("unparsed", None, {"text": parsed.text}))
        if parsed.verb in (ReplyVerb.STOP, ReplyVerb.START):
            with self._store.write() as unit:
                changed = unit.opt_out(phone, now) if parsed.verb == ReplyVerb.STOP else unit.opt_in(phone)
            kind = parsed.verb.value if changed else f"{parsed.verb.value}_again"
            return self._note(phone, owners, quoted, message, now, _Answer(kind, None))
        if parsed.bundle:
            return self._bundle(phone, owners, parsed, quoted, message, now)
        with self._store.read() as unit:
            target = self._target(unit, phone, {p.name for p in owners}, parsed, now)
        if isinstance(target, _Answer):
            return self._note(phone, owners, quoted, message, now, target)
        incident, person = target
        if self._repeated(incident, phone, quoted, now):
            return _Answer("redelivered", None)
        self._record(incident, person, phone, quoted, message, now)
        return self._act(incident, person, Verb(parsed.verb.value), parsed.code, phone)

    def _target(
        self, unit: Unit, phone: str, owners: set[str], command: Command, now: datetime
    ) -> tuple[str, str] | _Answer:
        if command.code is not None:
            holder = unit.code_holder(phone, command.code, now)
            if holder is not None and holder[1] in owners:  # the number may have changed hands since
                return holder
            return _Answer("unknown_code", None, {"code": command.code, "open": self._open(unit, phone, owners)[:5]})
        # A bare "ok" is about what still waits for an acknowledgement; else about whatever is open.
        candidates = self._open(unit, phone, owners, waiting=True) or self._open(unit, phone, owners)
        if len(candidates) == 1:
            return candidates[0]["id"], candidates[0]["person"]
        if not candidates:
            return _Answer("none_open", None)
        return _Answer("ambiguous", None, {"open": candidates[:5]})

    def _open(self, unit: Unit, phone: str, owners: set[str], *, waiting: bool = False) -> list[dict[str, Any]]:
        shown = []
        for code, incident, person in unit.open_codes(phone):
            found = unit.incident(incident)
            if person not in owners or found is None or (waiting and found.state != IncidentState.TRIGGERED):
                continue
            shown.append({"code": code, "id": incident, "summary": found.summary, "person": person})
        return shown

    def _act(self, incident: str, person: str, verb: Verb, code: int | None, phone: str) -> _Answer:
        context: dict[str, Any] = {"person": person, "verb": verb.value, "id": incident, "code": code}
        try:
            outcome: Outcome = self._actions.act(incident, verb, person, "SMS", Context(VIA, phone))
        except Refused as refusal:
            if refusal.closed:
                return _Answer("closed", incident, {**context, "by": self._resolver(incident)})
            return _Answer("refused", incident, {**context, "reason": str(refusal)})
        except (NotFound, ServiceError) as error:
            return _Answer("refused", incident, {**context, "reason": str(error)})
        context["summary"] = outcome.incident.summary
        context["double"] = outcome.incident.policy.ack.mode == AckMode.DOUBLE
        return _Answer("done" if outcome.changed else "duplicate", incident, context)

    def _bundle(
        self, phone: str, owners: list[Person], command: Command, quoted: str, message: Inbound, now: datetime
    ) -> _Answer:
        assert command.code is not None
        with self._store.read() as unit:
            found = [(p.name, b) for p in owners if (b := unit.bundle(p.name, command.code)) is not None]
            incidents = unit.bundle_incidents(found[0][1].id) if found else []
        if not found or not incidents:
            answer = _Answer("unknown_code", None, {"code": command.code})
            with self._store.read() as unit:
                answer.context["open"] = self._open(unit, phone, {p.name for p in owners})[:5]
            return self._note(phone, owners, quoted, message, now, answer)
        person = found[0][0]
        if self._repeated(incidents[0], phone, quoted, now):
            return _Answer("redelivered", None)
        for incident in incidents:
            self._record(incident, person, phone, quoted, message, now)
        results = self._actions.act_on_bundle(
            command.code, Verb(command.verb.value), person, "SMS", Context(VIA, phone)
        )
        done = sum(1 for r in results.values() if isinstance(r, Outcome) and r.changed)
        already = sum(1 for r in results.values() if isinstance(r, Outcome) and not r.changed)
        closed = sum(1 for r in results.values() if isinstance(r, Refused) and r.closed)
        context = {"person": person, "verb": command.verb.value, "code": command.code, "count": len(results)}
        context.update(done=done, already=already, closed=closed, other=len(results) - done - already - closed)
        return _Answer("bundle", incidents[0], context)

    def _note(
        self, phone: str, owners: list[Person], quoted: str, message: Inbound, now: datetime, answer: _Answer
    ) -> _Answer:
        """A reply that names no incident goes on the timeline of the last incident paged to the number."""
        with self._store.read() as unit:
            latest = unit.latest_code(phone)
        if latest is None:
            answer.context.setdefault("person", owners[0].name)
            return answer
        _, incident, person = latest
        answer.incident = incident
        answer.context.setdefault("person", person if person in {o.name for o in owners} else owners[0].name)
        self._record(incident, answer.context["person"], phone, quoted, message, now, answer.kind)
        return answer

    def _record(
        self, incident: str, person: str, phone: str, quoted: str, message: Inbound, now: datetime, kind: str = ""
    ) -> None:
        meaning = {
            "unparsed": ": not understood",
            "unknown_code": ": unknown code",
            "none_open": ": no open incident paged to this number",
            "ambiguous": ": several open incidents, no code given",
            "stop": ": STOP (no more status messages by SMS)",
            "start": ": START (status messages by SMS again)",
            "stop_again": ": STOP (already stopped)",
            "start_again": ": START (was not stopped)",
        }.get(kind, "")
        text = f"SMS reply from {person} ({phone}) via {message.provider}: {quoted!r}{meaning}"
        with self._store.write() as unit:
            unit.add_entry(incident, now, "sms_reply", text, person)

    def _repeated(self, incident: str, phone: str, quoted: str, now: datetime) -> bool:
        """The same command from the same number on this incident a moment ago: the SMSC delivering it
        again (its acknowledgement was lost), which must not escalate twice."""
        tail = f"({phone}) via "
        with self._store.read() as unit:
            entries = unit.timeline(incident)
        return any(
            e.kind == "sms_reply" and e.at > now - REDELIVERY and tail in e.text and e.text.endswith(f": {quoted!r}")
            for e in entries
        )

    def _resolver(self, incident: str) -> str | None:
        with self._store.read() as unit:
            entries = [e for e in unit.timeline(incident) if e.kind == "resolved"]
        return entries[-1].person if entries else None

    def _answer(self, person: Person, phone: str, answer: _Answer, provider: str, now: datetime) -> None:
        assert answer.incident is not None
        with self._store.write() as unit:
            if (
                answer.kind in IDLE_KINDS
                and unit.answers_since(person.name, IDLE_KINDS, now - IDLE_WINDOW) >= IDLE_ANSWERS
            ):
                text = f"No answer sent to {person.name} ({phone}): {IDLE_ANSWERS} sent to unusable replies this hour"
                unit.add_entry(answer.incident, now, "sms_reply_unanswered", text, person.name)
                return
            text = self._renderer.render("answer", person.language, {**answer.context, "kind": answer.kind})
            unit.add_notification(
                NotificationDraft(
                    incident=answer.incident,
                    person=person.name,
                    channels=(provider,),
                    purpose=REPLY,
                    step=None,
                    cycle=0,
                    reason=answer.kind,
                    subject=f"[memoguard #{answer.incident}]",
                    text=text,
                    created_at=now,
                )
            )

    # --- delivery receipts

    def receipt(self, receipt: Receipt) -> None:
        # A fast SMSC can report a part before the dispatcher has committed the ids the send returned.
        if not patiently(lambda: self._apply(receipt), self._receipt_wait):
            log.info(
                "receipt from %s for unknown message %s (%s)",
                receipt.provider,
                receipt.message_id,
                receipt.state,
                extra=ids(provider=receipt.provider),
            )

    def _apply(self, receipt: Receipt) -> bool:
        """Record ``receipt``; False when no sent message has its id (yet). A receipt saying a page still
        waiting for an acknowledgement was not delivered fails it over (``Recorder.undelivered``)."""
        now = self._clock.now()
        with self._store.write() as unit:
            found = unit.message_notification(receipt.provider, receipt.message_id)
            notification = unit.notification(found) if found is not None else None
            if notification is None:
                return False
            # A receipt about an earlier send of this row (it failed over, then went again) is history.
            current = receipt.message_id in (notification.reference or "").split()
            if current and notification.receipt is not None and _rank(receipt.state) <= _rank(notification.receipt):
                return True  # another part said as much or worse: a long message is as delivered as its worst part
            failing = current and receipt.state in FAILED_STATES and self._recorder is not None
            stranded = self._recorder.stranded(unit, notification) if failing and self._recorder else []
            if current:
                unit.notification_receipt(notification.id, receipt.state, receipt.at or now)
            if receipt.state == DELIVERED:
                outcome = "delivered"
            elif receipt.state in FAILED_STATES:
                outcome = "NOT delivered"
            else:
                outcome = "in progress"
            error = f", error {receipt.error}" if receipt.error and receipt.error.strip("0") else ""
            earlier = "" if current else " (about an earlier attempt)"
            # "Page #3 to alice delivered …", "Answer to alice's reply #7 delivered …"
            to = "" if notification.direct else f" to {notification.person}"
            text = (
                f"{what(notification)} #{notification.id}{to} {outcome} "
                f"({receipt.state}{error}), receipt from {receipt.provider}{earlier}"
            )
            unit.add_entry(notification.incident, now, "delivery_receipt", text, notification.person or None)
            if stranded and self._recorder is not None:
                why = f"receipt {receipt.state}{error}"
                self._recorder.undelivered(unit, stranded, why, now)
        return True


def _rank(state: str) -> int:
    """Receipt states by how much they say: a failure beats a delivery, which beats "in progress"."""
    if state in FAILED_STATES:
        return 2
    return 1 if state == DELIVERED else 0
