"""Voice pages (issue 15): what a call says, what a key pressed on it does, and what became of the call.

A call is bound to the one notification it was placed for: the provider returned the call's id when it
placed it and the dispatcher kept it (``add_provider_messages``), so a request about a call names the
incident and the person through that row only. The adapter may also pass the notification it signed
into the call's URLs (for a request that beats the dispatcher's commit); when both are known they must
agree. A key acts as the person called, on that incident, through the same ``Actions`` as the API, the
SMS and the e-mail links (timeline ``voice``, audit ``voice key``):

- 1 acknowledges; on a policy asking for a double acknowledgement the call then offers 2;
- 2 confirms (the double acknowledgement's second step);
- 9 escalates now;
- * says the page again; any other key says which keys work;
- 0, on a crisis-cell page of a policy with a ``bridge``, puts the member into the incident's conference
  (one per incident, ``bridge_name``); joining it is that member's acknowledgement, and who joined and
  left is on the timeline (services/bridge.py, which also hears members dialling the bridge number
  directly). The ``bridge`` number is still read out in the texts.

Nothing pressed: the page is said once more, then the call ends without an acknowledgement. A call
answered by a machine (voicemail, fax) is never an acknowledgement: a short message is left, no key is
asked for. Call statuses go on the timeline; a call nobody answered (no-answer, busy) is not an
acknowledgement and the step's timeout runs as usual; a call that failed (the number, the network)
fails over to the channel's next provider or the person's next channel, as an undelivered SMS does.
The words spoken are templates (``voice.LANG.txt``); how they are spoken (TwiML) is the adapter's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from memoguard.domain.effect import Notify, Purpose
from memoguard.domain.incident import Incident, IncidentState
from memoguard.domain.person import Person
from memoguard.domain.policy import AckMode
from memoguard.domain.stage import current
from memoguard.services.access import Context
from memoguard.services.action import Actions, Verb
from memoguard.services.clock import Clock
from memoguard.services.dispatch.recording import Recorder, patiently
from memoguard.services.error import NotFound, Refused, ServiceError
from memoguard.services.escalator import message_context
from memoguard.services.logfields import ids
from memoguard.services.record import Notification, NotificationStatus
from memoguard.services.renderer import Renderer
from memoguard.services.store import Store

log = logging.getLogger(__name__)

VIA = "voice"
HOW = "voice key"
ATTEMPTS = 2  # the page is said this many times when no key is pressed
MACHINES = ("machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax")
KEYS = {"1": Verb.ACK, "2": Verb.CONFIRM, "9": Verb.ESCALATE}
# Call statuses worth the timeline, and what each says (the rest, queued, initiated, ringing, say nothing new).
STATUSES = {
    "in-progress": "answered",
    "completed": "ended",
    "busy": "busy: not answered, not an acknowledgement",
    "no-answer": "not answered: not an acknowledgement",
    "canceled": "canceled before it was answered",
    "failed": "failed",
}


class UnknownCall(ServiceError):
    """No page of this provider was placed as this call (or the call and the signed URL disagree)."""


@dataclass(frozen=True)
class Call:
    """The page a call was placed for: its notification row, its incident and the person called."""

    provider: str
    sid: str
    notification: Notification
    person: Person
    bound: bool = True  # False: found by the id signed into the URL, the dispatcher not having committed the SID yet


@dataclass(frozen=True)
class Script:
    """What to say next on a call: ``said`` first; then, when ``menu`` is not None, a key is asked for
    while ``menu`` is said (a key may be pressed at any moment of it), and with no key the call comes
    back as attempt ``next_attempt`` (None: it ends); when ``menu`` is None the call ends after ``said``,
    or joins ``conference`` when there is one."""

    language: str
    said: tuple[str, ...]
    menu: tuple[str, ...] | None = None
    next_attempt: int | None = None
    conference: str | None = None  # after ``said``, the call joins this conference (the crisis bridge)


class CallDesk(Protocol):
    """What a voice provider's webhooks need: ``Calls``, or the service's ``CurrentCalls`` (services/live.py),
    which answers each request with the application in force."""

    def call(self, provider: str, sid: str, signed: int | None) -> Call: ...
    def answer(self, call: Call, answered_by: str | None, attempt: int) -> Script: ...
    def key(self, call: Call, digits: str, attempt: int) -> Script: ...
    def status(self, call: Call, status: str, answered_by: str | None, error: str | None) -> None: ...
    def current(self) -> Calls:
        """The calls in force (the crisis bridge reads their people and actions: services/bridge.py)."""
        ...


class Calls:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        people: Mapping[str, Person],
        actions: Actions,
        renderer: Renderer,
        recorder: Recorder | None = None,
        status_wait: float = 0.0,
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        """``status_wait``: how many real seconds a failed call's status that beat the dispatcher's
        commit of the call's SID waits for it (as an SMS receipt does: ``patiently``); ``pause``: how."""
        self._store = store
        self._clock = clock
        self._people = people
        self._actions = actions
        self._renderer = renderer
        self._recorder = recorder
        self._status_wait = status_wait
        self._pause = pause

    def current(self) -> Calls:
        return self

    @property
    def shared(self) -> tuple[Store, Clock, Mapping[str, Person], Actions, Renderer]:
        """What the crisis bridge (services/bridge.py) works with, as the calls do."""
        return self._store, self._clock, self._people, self._actions, self._renderer

    def patient(self, seconds: float, pause: Callable[[float], None] = time.sleep) -> Calls:
        """The same calls, a failed status waiting ``seconds`` for its SID (``pause``: how it waits)."""
        return Calls(
            self._store, self._clock, self._people, self._actions, self._renderer, self._recorder, seconds, pause
        )

    def call(self, provider: str, sid: str, signed: int | None) -> Call:
        """The page ``sid`` was placed for. ``signed``: the notification the adapter signed into the
        request's URL, if any. Raises UnknownCall when neither names one, or when they disagree."""
        with self._store.read() as unit:
            bound = unit.message_notification(provider, sid)
            if bound is not None and signed is not None and bound != signed:
                raise UnknownCall(f"call {sid} was placed for page #{bound}, not #{signed}")
            found = bound if bound is not None else signed
            row = unit.notification(found) if found is not None else None
        if bound is None and row is not None and _placed_as_another(row, provider, sid):
            # The page's call is known and it is another one: the signed id is only for a request that
            # beats the dispatcher's commit of the call's id (the row is still being sent then).
            raise UnknownCall(f"page #{row.id} was placed as another call than {sid}")
        if row is None or row.purpose != Purpose.PAGE.value:
            raise UnknownCall(f"no page was placed through {provider} as call {sid}")
        if row.person not in self._people:  # removed by a reload since: their keys no longer act
            raise UnknownCall(f"page #{row.id} was for {row.person}, who is no longer in the configuration")
        return Call(provider, sid, row, self._people[row.person], bound=bound is not None)

    def _bound(self, call: Call) -> bool:
        """Whether the dispatcher has committed ``call``'s SID as its page's."""
        with self._store.read() as unit:
            return unit.message_notification(call.provider, call.sid) is not None

    # --- what the call says

    def answer(self, call: Call, answered_by: str | None, attempt: int) -> Script:
        """What the call says when it is answered (attempt 1) or when no key came (attempt 2, 3…)."""
        incident = self._incident(call)
        if answered_by in MACHINES:
            what = f"answered by a machine ({answered_by}): no key asked, not an acknowledgement"
            self._note(call, "call_machine", what)
            return Script(call.person.language, (self._say(call, incident, "voicemail"),))
        if not incident.is_open:
            return Script(call.person.language, (self._say(call, incident, "closed"),))
        if attempt > ATTEMPTS:
            what = f"no key pressed after the page was said {ATTEMPTS} times: not an acknowledgement"
            self._note(call, "call_no_key", what)
            return Script(call.person.language, (self._say(call, incident, "no_key"),))
        return self._page(call, incident, (), attempt)

    def key(self, call: Call, digits: str, attempt: int) -> Script:
        """Do what ``digits`` asks, as the person called, on the call's incident; what the call says next."""
        incident = self._incident(call)
        pressed = digits.strip()[:1]
        self._note(call, "voice_key", f"key {pressed or 'none'} pressed by {call.person.name}")
        if pressed == "*":
            return self._page(call, incident, (), attempt)
        if pressed == "0" and bridged(call.notification, incident):
            said = (self._say(call, incident, "joining"),)
            return Script(call.person.language, said, conference=bridge_name(incident.id))
        verb = KEYS.get(pressed)
        if verb is None:
            return self._page(call, incident, (self._say(call, incident, "unknown_key"),), attempt, menu_only=True)
        if verb == Verb.ESCALATE and not _still_paging(incident, call.notification):
            # The call's paging is over (escalated meanwhile, or Twilio posting the same key again): a 9 on
            # it must not escalate the next step, or the crisis cell's next paging, too.
            said = (self._say(call, incident, "refused", verb=verb.value),)
            return Script(call.person.language, said)
        try:
            outcome = self._actions.act(incident.id, verb, call.person.name, VIA, Context(HOW))
        except Refused as refusal:
            if refusal.closed:
                return Script(call.person.language, (self._say(call, incident, "closed"),))
            log.info(
                "call %s: key %s by %s refused: %s",
                call.sid,
                pressed,
                call.person.name,
                refusal,
                extra=ids(incident.id, person=call.person.name),
            )
            said = (self._say(call, incident, "refused", verb=verb.value),)
            return self._page(call, incident, said, attempt, menu_only=True)
        except (NotFound, ServiceError) as error:
            log.warning(
                "call %s: key %s by %s: %s",
                call.sid,
                pressed,
                call.person.name,
                error,
                extra=ids(incident.id, person=call.person.name),
            )
            return Script(call.person.language, (self._say(call, incident, "closed"),))
        after = outcome.incident
        done = self._say(call, after, "done", verb=verb.value, changed=outcome.changed)
        if verb == Verb.ACK and _double(after) and after.state == IncidentState.ACKNOWLEDGED:
            return Script(call.person.language, (done,), (self._say(call, after, "confirm_menu"),))
        return Script(call.person.language, (done,))

    # --- what became of the call

    def status(self, call: Call, status: str, answered_by: str | None, error: str | None) -> None:
        """Put a call status on the timeline; a failed call fails over (once, while its stage is current)."""
        said = STATUSES.get(status)
        if said is None:
            return
        n = call.notification
        late = ""
        if (
            status == "failed"
            and not call.bound
            and not patiently(lambda: self._bound(call), self._status_wait, self._pause)
        ):
            # Twilio said the call failed before the dispatcher committed its SID, and it still has not:
            # the page cannot be told to fail over (its row says nothing of this call yet).
            log.warning("call %s of page #%s failed before its SID was recorded: not failed over", call.sid, n.id)
            late = " (before its call id was recorded: not failed over, the step's timeout runs)"
        if status == "in-progress" and answered_by:
            said = f"answered ({answered_by})"
        code = f", error {error}" if error and error.strip("0") else ""
        text = f"Call #{n.id} to {call.person.name} via {call.provider} {said} ({status}{code})"
        now = self._clock.now()
        with self._store.write() as unit:
            current = unit.notification(n.id)
            if current is None:
                return
            is_current = call.sid in (current.reference or "").split()
            if late:
                text += late
            elif not is_current:
                text += " (about an earlier attempt)"
            stranded = []
            if status == "failed" and is_current and self._recorder is not None:
                stranded = self._recorder.stranded(unit, current)
            unit.add_entry(n.incident, now, "call_status", text, call.person.name)
            if stranded and self._recorder is not None:
                self._recorder.undelivered(unit, stranded, f"call failed{code}", now)

    # --- helpers

    def _page(
        self, call: Call, incident: Incident, said: tuple[str, ...], attempt: int, *, menu_only: bool = False
    ) -> Script:
        menu = self._say(call, incident, "menu")
        spoken = (menu,) if menu_only else (self._say(call, incident, "page"), menu)
        return Script(call.person.language, said, spoken, attempt + 1)

    def _incident(self, call: Call) -> Incident:
        with self._store.read() as unit:
            found = unit.incident(call.notification.incident)
        if found is None:
            raise UnknownCall(f"incident {call.notification.incident} of call {call.sid} no longer exists")
        return found

    def _say(self, call: Call, incident: Incident, part: str, **extra: Any) -> str:
        n = call.notification
        notify = Notify(n.person, n.channels, Purpose.PAGE, n.step, n.reason)
        context = message_context(incident, notify, n.person)
        language = call.person.language
        policy = incident.policy
        step = policy.steps[n.step] if n.step is not None and 0 <= n.step < len(policy.steps) else None
        context["ack_within"] = spoken(step.ack_within, language) if step is not None else None
        confirm = policy.ack.confirm_within
        context["confirm_within"] = spoken(confirm, language) if confirm is not None else None
        context.update(part=part, state=incident.state.value, bridge_key=bridged(call.notification, incident), **extra)
        return self._renderer.render("voice", call.person.language, context)

    def _note(self, call: Call, kind: str, what: str) -> None:
        n = call.notification
        text = f"Call #{n.id} to {call.person.name} via {call.provider}: {what}"
        with self._store.write() as unit:
            unit.add_entry(n.incident, self._clock.now(), kind, text, call.person.name)


UNITS = {
    "fr": (("heure", "heures"), ("minute", "minutes"), ("seconde", "secondes"), " et "),
    "en": (("hour", "hours"), ("minute", "minutes"), ("second", "seconds"), " and "),
}


def spoken(duration: timedelta, language: str) -> str:
    """A duration as a voice says it ("1 heure et 30 minutes", "5 minutes"), not as a text shows it ("5m")."""
    names = UNITS.get(language, UNITS["en"])
    seconds = int(duration.total_seconds())
    parts = []
    for (one, many), size in zip(names[:3], (3600, 60, 1), strict=True):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {one if count == 1 else many}")
    return names[3].join(parts) or f"0 {names[2][1]}"


def bridge_name(incident: str) -> str:
    """The crisis bridge's conference: one per incident, named after it."""
    return f"memoguard-incident-{incident}"


def bridged(n: Notification, incident: Incident) -> bool:
    """A crisis-cell page of a policy with a bridge: its call offers 0 to join it."""
    cell = incident.policy.crisis_cell
    return n.reason in ("crisis", "crisis_repeat") and cell is not None and cell.bridge is not None


def _placed_as_another(row: Notification, provider: str, sid: str) -> bool:
    sent = row.status == NotificationStatus.SENT and row.channel == "voice" and row.provider == provider
    return sent and sid not in (row.reference or "").split()


def _still_paging(incident: Incident, n: Notification) -> bool:
    """Whether the paging ``n`` was placed for is still the incident's last one, so that a 9 on its call
    may escalate. The position — (cycle, step), the step None for the crisis cell — must be the same,
    and so must the version the paging ended at (domain/stage.py), for the crisis cell is paged again at
    the same position (a repeat, an escalation from it). An acknowledgement also moves the version
    without paging anyone: an acknowledged incident's 9 (release the acknowledgement, escalate) stands
    as long as the position is the same; once it escalated, the incident is triggered again at a new
    version, so the same key posted again finds its paging over."""
    now = current(incident)
    if (now.cycle, now.step) != (n.cycle, n.step):
        return False
    return n.stage_version is None or incident.state != IncidentState.TRIGGERED or n.stage_version == now.version


def _double(incident: Incident) -> bool:
    return incident.policy.ack.mode == AckMode.DOUBLE
