"""The crisis bridge (issue 15): one conference per incident, who is in it, and who dialled into it.

A crisis-cell member paged by voice presses 0 and joins (services/voice.py). This module hears the
rest, so that the timeline tells who was on the bridge and when:

- the conference's own events — it started, it ended — and each participant joining or leaving. The
  events come to the conference URL of the member whose call started it, which names (signed) that
  member's page: the incident is that page's, and the conference must be that incident's bridge. A
  participant is the person whose page the call was placed for, or who dialled in (below); a call
  memoguard cannot tie to anyone is an unknown participant, on the timeline as such, and acknowledges
  nothing. Joining is a member's acknowledgement, as pressing 0 then joining is.
- a member who dials the bridge number directly (the provider's number, its voice webhook pointed at
  memoguard) rather than pressing 0 on a page: the caller's number (From) is matched to a member of the
  crisis cell of an open incident whose cell was paged and whose policy has a bridge (the latest such
  incident when there are several). A caller ID can be forged, so the number alone lets the caller in
  but does not make them the member: only when the network vouched for it (Twilio's ``StirVerstat``,
  a STIR/SHAKEN full attestation) is the call bound to that member's crisis page, as a placed call is
  bound to its page, so that their join is their acknowledgement. Otherwise they join as an unknown
  participant and acknowledge nothing (pressing 0 on a placed call, or a reply, does). A caller no
  member has is told so and not let in: the bridge is the incident's working room, not an open line.
"""

from __future__ import annotations

import logging

from memoguard.domain.effect import Purpose
from memoguard.domain.incident import Incident, IncidentState
from memoguard.domain.person import Person
from memoguard.services.access import Context
from memoguard.services.action import Verb
from memoguard.services.error import NotFound, Refused, ServiceError
from memoguard.services.record import Notification
from memoguard.services.voice import HOW, Call, Calls, Script, UnknownCall, bridge_name, bridged

log = logging.getLogger(__name__)

OPEN = (IncidentState.TRIGGERED, IncidentState.ACKNOWLEDGED, IncidentState.CONFIRMED)
SEARCHED = 200  # open incidents looked through for a caller's bridge
CONFERENCE_EVENTS = {"conference-start": "started", "conference-end": "ended"}
PARTICIPANT_EVENTS = {"participant-join": "joined", "participant-leave": "left"}


class Bridge:
    def __init__(self, calls: Calls) -> None:
        self._store, self._clock, self._people, self._actions, self._renderer = calls.shared
        self._calls = calls
        self._by_phone: dict[str, list[Person]] = {}
        for person in self._people.values():
            if person.phone:
                self._by_phone.setdefault(person.phone, []).append(person)

    def dial_in(self, provider: str, sid: str, caller: str, vouched: bool) -> tuple[Call | None, Script]:
        """Someone called the provider's number (``caller`` their From; ``vouched``: the network attested
        it): the member's call joining the bridge, bound to their crisis page when ``vouched``; or None
        and what an unknown caller is told."""
        owners = {p.name for p in self._by_phone.get(caller.strip(), [])}
        found = self._page_of(owners) if owners else None
        if found is None:
            log.info("call %s via %s from %s: no crisis bridge of theirs is open; not let in", sid, provider, caller)
            return None, Script("en", (self._renderer.render("voice", "en", {"part": "no_bridge"}),))
        incident, page = found
        person = self._people[page.person]
        now = self._clock.now()
        with self._store.write() as unit:
            text = f"{person.name} dialled the crisis bridge number from {caller} (call {sid})"
            if not vouched:
                text = (
                    f"{person.name}'s number {caller} dialled the crisis bridge (call {sid}); the network did"
                    " not vouch for the caller ID, so joining is not their acknowledgement"
                )
            elif unit.message_notification(provider, sid) is None:
                unit.add_provider_messages(provider, [sid], page.id)
            unit.add_entry(incident.id, now, "crisis_bridge", text, person.name)
        call = Call(provider, sid, page, person)
        said = self._renderer.render("voice", person.language, {"part": "joining", "id": incident.id})
        return call, Script(person.language, (said,), conference=bridge_name(incident.id))

    def event(self, provider: str, host: int, event: str, name: str, sid: str | None) -> None:
        """A conference event posted to the conference URL of page ``host`` (signed into it)."""
        with self._store.read() as unit:
            page = unit.notification(host)
            incident = unit.incident(page.incident) if page is not None else None
        if page is None or incident is None or not bridged(page, incident) or name != bridge_name(incident.id):
            raise UnknownCall(f"conference {name!r} is not the crisis bridge of page #{host}")
        said = CONFERENCE_EVENTS.get(event)
        if said is not None:
            self._note(incident, f"The crisis bridge ({name}) {said}", None)
            return
        said = PARTICIPANT_EVENTS.get(event)
        if said is None:
            return  # mute, hold, speaker, announcement…: nothing the timeline needs
        if not sid:
            raise UnknownCall(f"a {event} event without CallSid")
        try:
            call = self._calls.call(provider, sid, None)
        except UnknownCall:
            call = None
        if call is None or call.notification.incident != incident.id:
            self._note(incident, f"An unknown participant (call {sid}) {said} the crisis bridge ({name})", None)
            return
        who = call.person.name
        self._note(incident, f"{who} {said} the crisis bridge ({name})", who)
        if event != "participant-join" or not incident.is_open:
            return
        try:
            self._actions.act(incident.id, Verb.ACK, who, "crisis bridge", Context(HOW))
        except (Refused, NotFound, ServiceError) as error:  # the bridge works whatever the incident's state
            log.info("%s joined the crisis bridge of incident %s: not an acknowledgement (%s)", who, incident.id, error)

    def _page_of(self, owners: set[str]) -> tuple[Incident, Notification] | None:
        """The latest open incident whose crisis cell, with a bridge, was paged and has one of ``owners``,
        and that member's latest crisis page of it."""
        with self._store.read() as unit:
            rows = unit.incidents(OPEN, SEARCHED)
            candidates = sorted(
                (row.incident for row in rows if _bridge_open(row.incident)),
                key=lambda i: i.opened_at,
                reverse=True,
            )
            for incident in candidates:
                cell = incident.policy.crisis_cell
                members = owners & set(cell.members) if cell is not None else set()
                pages = [
                    n
                    for n in unit.notifications(incident.id)
                    if n.person in members and n.purpose == Purpose.PAGE.value and bridged(n, incident)
                ]
                if pages:
                    return incident, max(pages, key=lambda n: n.id)
        return None

    def _note(self, incident: Incident, text: str, who: str | None) -> None:
        with self._store.write() as unit:
            unit.add_entry(incident.id, self._clock.now(), "crisis_bridge", text, who)


def _bridge_open(incident: Incident) -> bool:
    cell = incident.policy.crisis_cell
    return incident.crisis and cell is not None and cell.bridge is not None
