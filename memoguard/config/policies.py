"""Escalation policies from their YAML models, checked against people, rosters, channels and providers."""

from __future__ import annotations

from collections.abc import Mapping

from memoguard.config.document import Document, Location
from memoguard.config.findings import Findings
from memoguard.config.schema import CrisisModel, MainModel, PolicyModel, StepModel
from memoguard.domain.policy import AckMode, AckRule, CrisisCell, Policy, Step, TargetKind
from memoguard.domain.roster import Roster


def build_policy(
    found: Findings, model: PolicyModel, document: Document, main: MainModel, rosters: Mapping[str, Roster]
) -> Policy | None:
    """The policy, or None when it has problems (all of them added to ``found``)."""
    errors_before = len(found.problems)
    steps = [_step(found, step, ("steps", index), document, main, rosters) for index, step in enumerate(model.steps)]
    ack_model = model.acknowledgement
    ack = found.attempt(
        document,
        ("acknowledgement",),
        lambda: AckRule(AckMode(ack_model.mode), ack_model.confirm_within, ack_model.quorum, ack_model.reack_after),
    )
    _check_quorum(found, model, document)
    crisis = _crisis(found, model.crisis_cell, document, main) if model.crisis_cell else None
    for index, name in enumerate(model.outbound):
        settings = main.providers.get(name)
        if settings is None:
            found.refer(document, ("outbound", index), "provider", name, main.providers)
        elif settings.kind not in ("zendesk", "webhook"):
            found.add(
                document,
                ("outbound", index),
                f"provider {name!r} is of kind {settings.kind}: outbound takes zendesk or webhook providers",
            )
    if len(found.problems) > errors_before or ack is None:
        return None
    notices, outbound = frozenset(model.notices), tuple(dict.fromkeys(model.outbound))
    return found.attempt(
        document,
        ("steps",),
        lambda: Policy(model.name, tuple(s for s in steps if s), ack, model.repeat, crisis, notices, outbound),
    )


def _step(
    found: Findings,
    model: StepModel,
    here: Location,
    document: Document,
    main: MainModel,
    rosters: Mapping[str, Roster],
) -> Step:
    for index, target in enumerate(model.notify):
        location = (*here, "notify", index)
        if target.kind == TargetKind.PERSON:
            found.refer(document, location, "person", target.name, main.people)
        elif target.kind == TargetKind.ROSTER:
            roster = rosters.get(target.name)
            if roster is None:
                found.refer(document, location, "roster", target.name, rosters)
            elif target.level not in roster.level_names and not found.level_broken(roster.name, target.level):
                found.add(
                    document,
                    location,
                    f"roster {target.name!r} has no level {target.level!r} (levels: {', '.join(roster.level_names)})",
                )
    for index, target in enumerate(model.notify):
        if target in model.notify[:index]:
            first = document.line((*here, "notify", model.notify.index(target)))
            found.add(document, (*here, "notify", index), f"{target} is already a target of this step (line {first})")
    _check_channel_list(found, model.channels, (*here, "channels"), document, main)
    return Step(tuple(model.notify), tuple(model.channels), model.ack_within)


def _check_quorum(found: Findings, model: PolicyModel, document: Document) -> None:
    """An ack stage counts the distinct people paged so far, over every step: a quorum larger than the
    people the steps name can never be met. A roster target pages whoever is on call, so how many
    people it reaches over an incident is not known here: it counts as at least one, and a policy
    with any roster target is never refused by this check."""
    quorum = model.acknowledgement.quorum
    targets = {target for step in model.steps for target in step.notify}
    if quorum == 1 or any(target.kind == TargetKind.ROSTER for target in targets):
        return
    people = len(targets)
    if quorum > people:
        found.add(
            document,
            ("acknowledgement", "quorum"),
            f"quorum {quorum} can never be met: the steps page {people} distinct person(s)",
        )


def _crisis(found: Findings, model: CrisisModel, document: Document, main: MainModel) -> CrisisCell | None:
    here: Location = ("crisis_cell",)
    for index, member in enumerate(model.members):
        found.refer(document, (*here, "members", index), "person", member, main.people)
        if member in model.members[:index]:
            first = document.line((*here, "members", model.members.index(member)))
            found.add(document, (*here, "members", index), f"{member!r} is already a member (line {first})")
    _check_channel_list(found, model.channels, (*here, "channels"), document, main)
    bridge = None
    if model.bridge and "person" not in found.unknowable:  # national numbers need memoguard.yaml's phone_region
        bridge = found.phone(model.bridge, main.phone_region, document, (*here, "bridge"))
    distinct = len(set(model.members))
    if model.quorum > distinct:
        found.add(
            document,
            (*here, "quorum"),
            f"quorum {model.quorum} can never be met: the cell has {distinct} distinct member(s)",
        )
        return None
    return found.attempt(
        document,
        here,
        lambda: CrisisCell(tuple(model.members), tuple(model.channels), model.quorum, bridge, model.repeat_every),
    )


def _check_channel_list(
    found: Findings, channels: list[str], here: Location, document: Document, main: MainModel
) -> None:
    for index, channel in enumerate(channels):
        found.refer(document, (*here, index), "channel", channel, main.channels)
