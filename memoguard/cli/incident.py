"""``memoguard incidents`` (the list) and ``memoguard incident ID`` (one incident with its timeline)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from memoguard.cli.context import AppContext, pass_app
from memoguard.cli.heartbeat import warn_unless_running
from memoguard.cli.output import console, emit_json, show_duration, show_instant, show_state, show_time
from memoguard.domain.incident import IncidentState
from memoguard.services.error import NotFound
from memoguard.services.record import DIRECT

OPEN_STATES = (IncidentState.SILENCED, IncidentState.TRIGGERED, IncidentState.ACKNOWLEDGED, IncidentState.CONFIRMED)


@click.command()
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice([s.value for s in IncidentState]),
    help="Only incidents in this state (repeatable).",
)
@click.option("--open", "only_open", is_flag=True, help="Only open incidents: triggered, acknowledged or confirmed.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000), help="At most this many.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_app
def incidents(app: AppContext, states: tuple[str, ...], only_open: bool, limit: int, as_json: bool) -> None:
    """Incidents, newest first (see one with `memoguard incident ID`)."""
    if only_open and states:
        raise click.UsageError("--open and --state do not go together: --open is every state but resolved")
    wanted = OPEN_STATES if only_open else tuple(IncidentState(s) for s in states)
    rows = app.application().incidents.list(wanted, limit)
    if as_json:
        emit_json({"incidents": rows})
        return
    out = console()
    if not rows:
        if only_open:
            out.print("No open incidents.")
        else:
            out.print(f"No {' or '.join(wanted)} incidents." if wanted else "No incidents.")
        return
    zone = app.config().timezone
    table = Table(title=f"Incidents, newest first ({zone})")
    for column in ("id", "state", "severity", "summary", "policy", "step", "opened", "acked by"):
        # The summary keeps room to be read on a narrow terminal.
        table.add_column(
            column, justify="right" if column == "id" else "left", min_width=16 if column == "summary" else None
        )
    for row in rows:
        table.add_row(
            row["id"],
            show_state(row["state"]),
            escape(row["severity"]),
            escape(row["summary"]),
            row["policy"],
            _step(row),
            show_time(datetime.fromisoformat(row["opened_at"]), zone),
            _ackers(row),
        )
    out.print(table)


@click.command()
@click.argument("incident_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_app
def incident(app: AppContext, incident_id: str, as_json: bool) -> None:
    """One incident: its facts, timeline, notifications and pending timers.

    Times are shown in the configuration's time zone (`timezone:` in memoguard.yaml). A warning on
    stderr says when something waits (a queued page, a timer) and no service runs its engine on the
    database to send or fire it.
    Exit code 1 when there is no incident ID.
    """
    try:
        shown = app.application().incidents.show(incident_id)
    except NotFound as error:
        raise click.ClickException(str(error)) from None
    waiting = shown["timers"] or any(n["status"] in ("pending", "sending", "submitted") for n in shown["notifications"])
    if waiting:  # a resolved incident with nothing left to send or fire needs no service
        warn_unless_running(app)
    if as_json:
        emit_json(shown)
        return
    zone = app.config().timezone
    now = app.clock.now()
    out = console()
    out.print(f"[bold]Incident {shown['id']}: {escape(shown['summary'])}[/bold]")
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim")
    facts.add_column()
    for name, value in _facts(shown, zone):
        facts.add_row(name, value)
    out.print(facts)

    timeline = Table(title=f"Timeline ({zone})")
    for column in ("time", "kind", "person", "text"):
        timeline.add_column(column)
    for item in shown["timeline"]:
        timeline.add_row(show_instant(item["at"], zone), item["kind"], item["person"] or "", escape(item["text"]))
    out.print(timeline)

    if shown["notifications"]:
        notifications = Table(title="Notifications")
        for column in ("id", "person", "channel", "purpose", "status", "attempts", "detail"):
            notifications.add_column(column, justify="right" if column in ("id", "attempts") else "left")
        channels = app.config().channels
        for n in shown["notifications"]:
            status = "queued" if n["status"] == "pending" else n["status"]
            notifications.add_row(
                str(n["id"]),
                n["person"],
                n["channel"],
                n["purpose"],
                status,
                str(n["attempts"]),
                escape(_detail(n, channels.get(n["channel"], ()), zone)),
            )
        out.print(notifications)
    else:
        out.print("No notifications.")

    if shown["timers"]:
        timers = Table(title="Pending timers")
        for column in ("kind", "due", "in"):
            timers.add_column(column)
        for timer in shown["timers"]:
            due = datetime.fromisoformat(timer["due_at"])
            left = "overdue" if due <= now else show_duration(due - now)
            timers.add_row(timer["kind"], show_instant(due, zone), left)
        out.print(timers)
    else:
        out.print("No pending timers.")


def _detail(n: dict[str, Any], providers: Sequence[str], zone: tzinfo) -> str:
    """What became of a notification, in words: who sent it (and what failed before), the network's
    receipt; or why it waits, and that nothing went yet; or why it failed or was cancelled."""
    match n["status"]:
        case "sent":
            text = f"via {n['provider']}"
            earlier = _failed_before(n, providers)
            if earlier:
                text += f" (after {', '.join(earlier)} failed)"
            receipt = n["receipt"]
            if receipt is not None:
                said = {True: "delivered", False: "NOT delivered", None: "in progress"}[receipt["delivered"]]
                at = f" at {show_instant(receipt['at'], zone)}" if receipt["at"] else ""
                text += f"; {said} ({receipt['state']}){at}"
            return text
        case "pending" | "sending":
            error = n["error"]
            if n["attempts"] == 0 and error is None:
                return "not sent yet"
            if error is not None and error.startswith("held: "):
                return f"not sent yet, {error}" if n["attempts"] == 0 else error
            return f"retrying after: {error}" if error else "retrying"
        case "submitted":
            return f"in a batch job of {n['provider']}"
        case _:
            return n["error"] or ""


def _failed_before(n: dict[str, Any], providers: Sequence[str]) -> list[str]:
    """The channels and providers a sent notification failed over from."""
    if n["purpose"] in DIRECT:
        return []  # an event or an answer has one provider, the one that sent it
    channels: list[str] = n["channels"]
    earlier = channels[: channels.index(n["channel"])] if n["channel"] in channels else []
    return [*earlier, *providers[: n["provider_index"]]]


def _paged(shown: dict[str, Any]) -> str:
    """Who the escalation paged, each marked while none of their pages went out."""
    pages: dict[str, list[str]] = {}
    for n in shown["notifications"]:
        if n["purpose"] == "page":
            pages.setdefault(n["person"], []).append(n["status"])
    names = []
    for person in shown["paged"]:
        statuses = pages.get(person, [])
        if not statuses or "sent" in statuses:
            names.append(person)
        elif any(s in ("pending", "sending", "submitted") for s in statuses):
            names.append(f"{person} (queued, not sent yet)")
        elif "failed" in statuses:
            names.append(f"{person} (not reached: every page failed)")
        else:  # every page dropped before it went (the incident or its stage moved on) or cancelled
            names.append(f"{person} (not sent: dropped)")
    return ", ".join(names) or "-"


def _step(row: dict[str, Any]) -> str:
    if row["crisis"]:
        return "crisis cell"
    if row["step"] is None:
        return "-"
    text = f"{row['step']}/{row['steps']}"
    return text + (f" (pass {row['cycle']})" if row["cycle"] > 1 else "")


def _ackers(row: dict[str, Any]) -> str:
    confirmed = set(row["confirmed_by"])
    return ", ".join(f"{p} (confirmed)" if p in confirmed else p for p in row["acknowledged_by"]) or "-"


def _facts(shown: dict[str, Any], zone: tzinfo) -> list[tuple[str, str]]:
    facts = [
        ("state", show_state(shown["state"])),
        ("severity", escape(shown["severity"])),
        ("policy", shown["policy"]),
        ("step", _step(shown)),
        ("source", escape(f"{shown['source']} (dedup key {shown['dedup_key']})")),
        ("alarms", str(shown["alarms"])),
        ("opened", show_instant(shown["opened_at"], zone)),
        ("updated", show_instant(shown["updated_at"], zone)),
    ]
    if shown["resolved_at"] is not None:
        facts.append(("resolved", show_instant(shown["resolved_at"], zone)))
    facts += [
        ("paged", _paged(shown)),
        ("acknowledged by", ", ".join(shown["acknowledged_by"]) or "-"),
    ]
    if shown["confirmed_by"]:
        facts.append(("confirmed by", ", ".join(shown["confirmed_by"])))
    return facts
