"""Stages: which paging of an escalation a page belongs to, and whether that paging is still going on.

A stage is one paging of a step in a pass — (cycle, step) — or of the crisis cell (``step`` None). What
makes it unambiguous is ``version``: the incident version the decision that paged it ended at. Every
paging replaces the pending timers, so it bumps the version, and while the incident waits for an
acknowledgement nothing else does (a partial ack, a partial delivery failure, an attached alarm leave
it alone); so "the same stage" is "the same version". (cycle, step) alone is not enough: an ack expiry
pages the same step of the same pass again, a confirm timeout or a repeat pages the crisis cell again,
and a page of the earlier paging must not go out beside the new one.

The rule, applied to every effect that belongs to a stage when it arrives (``over``): a page drafted
for a stage that is over is dropped before it is sent, and a delivery failure of a stage that is over
is recorded and changes nothing else. A stage is over once the incident is resolved, acknowledged or
confirmed, or once another paging (the next step, a new pass, the crisis cell, the same step after an
ack expiry, the crisis cell again) or the end of the escalation (``exhausted``) replaced its timers.
A page is also not sent to someone who acknowledged since it was drafted (``unwanted``: with a quorum
above 1 the stage goes on, but that person has answered).

Pages written before stages were stored (revision 0006) have no version: for them the stage is the
(cycle, step) alone, the best that can be told.
"""

from __future__ import annotations

from dataclasses import dataclass

from memoguard.domain.incident import Incident, IncidentState


@dataclass(frozen=True)
class Stage:
    """One paging: ``step`` 0-based, None for the crisis cell; ``version`` the incident version it was
    paged at (None: not known, a page written before revision 0006)."""

    cycle: int
    step: int | None
    version: int | None = None

    def __str__(self) -> str:
        return self.name(passes=self.cycle > 0)

    def name(self, passes: bool) -> str:
        """The stage in words: "step 2", "step 2 of pass 1" (``passes``: which pass, even the first) or
        "the crisis cell"."""
        if self.step is None:
            return "the crisis cell"
        return f"step {self.step + 1}" + (f" of pass {self.cycle + 1}" if passes else "")


def current(incident: Incident) -> Stage:
    """The stage the incident paged last (the one a page or failure is judged against)."""
    return Stage(incident.cycle, None if incident.crisis else incident.step, incident.version)


def over(incident: Incident, stage: Stage) -> str | None:
    """Why ``stage`` is over for ``incident`` (a phrase for the timeline), or None while it is current."""
    if not incident.is_open or incident.state != IncidentState.TRIGGERED:
        return f"the incident was {incident.state.value} in the meantime"
    now = current(incident)
    passes = stage.cycle != now.cycle and None not in (stage.step, now.step)
    then, since = stage.name(passes or stage.cycle > 0), now.name(passes or now.cycle > 0)
    if stage.version is None:  # an old row: (cycle, step) is all it says
        same = (stage.cycle, stage.step) == (now.cycle, now.step)
        return None if same else f"{then} is over, the incident is now at {since}"
    if stage.version == incident.version:
        return None
    if (stage.cycle, stage.step) != (now.cycle, now.step):
        return f"{then} is over, {since} was paged since"
    return f"it was for an earlier paging of {then}, paged again since"


def is_current(incident: Incident, stage: Stage) -> bool:
    return over(incident, stage) is None


def unwanted(incident: Incident, stage: Stage, person: str) -> str | None:
    """Why a page drafted for ``stage`` must not be sent to ``person`` now, or None when it must."""
    why = over(incident, stage)
    if why is None and person in incident.acked_by:
        why = f"{person} acknowledged in the meantime"
    return why


def reach(incident: Incident) -> int:
    """How many distinct people can still make up the current stage's quorum: those who acknowledged so
    far and those paged on the stage whose pages have not all failed."""
    reachable = {person for person in incident.stage_paged if person not in incident.undeliverable}
    return len(reachable | set(incident.acked_by))
