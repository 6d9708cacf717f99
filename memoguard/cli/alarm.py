"""``memoguard alarm send``: inject an alarm as a monitoring source would, straight into the database."""

from __future__ import annotations

import uuid

import click

from memoguard.cli.context import AppContext, pass_app
from memoguard.cli.heartbeat import warn_unless_running
from memoguard.cli.output import emit_json
from memoguard.services.record import Alarm, AlarmStatus, Outcome, Receipt

# The database columns' sizes (and the HTTP API's limits).
MAX_SOURCE = 200
MAX_KEY = 255
MAX_SEVERITY = 50
MAX_SUMMARY = 1000
MAX_DETAILS = 20_000


@click.group()
def alarm() -> None:
    """Alarms: inject a test alarm without a monitoring system."""


@alarm.command()
@click.option("--summary", "-s", metavar="TEXT", help="What people read when paged (required unless --resolved).")
@click.option("--severity", default="warning", show_default=True, help="Severity; routes may match on it.")
@click.option(
    "--dedup-key",
    "dedup_key",
    metavar="KEY",
    help="Alarms with the same key join the same open incident. Default: a fresh unique key.",
)
@click.option("--source", default="cli", show_default=True, help="Source name; routes may match on it.")
@click.option(
    "--label",
    "-l",
    "labels",
    metavar="KEY=VALUE",
    multiple=True,
    help="A label (repeatable); routes match on labels.",
)
@click.option("--details", metavar="TEXT", default="", help="Longer description.")
@click.option("--resolved", is_flag=True, help="Send a resolved alarm for --dedup-key instead of a firing one.")
@click.option("--json", "as_json", is_flag=True, help="Print the receipt as JSON.")
@pass_app
def send(
    app: AppContext,
    summary: str | None,
    severity: str,
    dedup_key: str | None,
    source: str,
    labels: tuple[str, ...],
    details: str,
    resolved: bool,
    as_json: bool,
) -> None:
    """Inject one alarm, as a monitoring source would (no running service needed).

    The alarm is routed like any other and opens, joins or resolves an incident. It is written straight
    to the database through the ingest use case: no running service is needed. This command sends
    nothing itself; a `memoguard serve` running on the same database notices within its ~1 s sweep and
    pages. Prints the outcome and the incident id, and a warning on stderr when no service has run its
    engine on the database lately (nothing would be sent).
    """
    if resolved and dedup_key is None:
        raise click.UsageError("--resolved needs --dedup-key: the key of the alarm to resolve")
    summary = (summary or "").strip()
    if not summary and not resolved:
        raise click.UsageError("--summary is required: it is what people read when they are paged")
    key = dedup_key if dedup_key is not None else f"cli-{uuid.uuid4().hex}"
    for option, value, limit in (
        ("--summary", summary, MAX_SUMMARY),
        ("--severity", severity, MAX_SEVERITY),
        ("--dedup-key", key, MAX_KEY),
        ("--source", source, MAX_SOURCE),
        ("--details", details, MAX_DETAILS),
    ):
        if len(value) > limit:
            raise click.BadParameter(f"at most {limit} characters, got {len(value)}", param_hint=option)
    for option, value in (("--severity", severity), ("--dedup-key", key), ("--source", source)):
        if not value.strip():
            raise click.BadParameter("must not be empty", param_hint=option)
    item = Alarm(
        source=source,
        dedup_key=key,
        status=AlarmStatus.RESOLVED if resolved else AlarmStatus.FIRING,
        severity=severity,
        summary=summary or key,
        details=details,
        labels=_labels(labels),
    )
    application = app.application()
    (receipt,) = application.ingest.receive([item])
    warn_unless_running(app)
    policy = None
    if receipt.outcome == Outcome.OPENED and receipt.incident is not None:
        policy = application.incidents.show(receipt.incident)["policy"]
    if as_json:
        emit_json(
            {
                "alarm": receipt.alarm,
                "outcome": receipt.outcome.value,
                "incident": receipt.incident,
                "source": source,
                "dedup_key": key,
            }
        )
        return
    click.echo(_sentence(receipt, item, policy))


def _labels(pairs: tuple[str, ...]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise click.BadParameter(f"{pair!r}: expected KEY=VALUE, e.g. team=dba", param_hint="--label")
        if name in labels:
            raise click.BadParameter(f"label {name!r} given twice", param_hint="--label")
        labels[name] = value
    return labels


def _sentence(receipt: Receipt, item: Alarm, policy: str | None) -> str:
    key = f"{item.source}/{item.dedup_key}"
    number = f"Alarm {receipt.alarm} ({key})"
    match receipt.outcome:
        case Outcome.OPENED:
            return (
                f"{number} opened incident {receipt.incident} (policy {policy}); its pages are queued in the"
                " database: a running `memoguard serve` sends them"
            )
        case Outcome.SILENCED:
            return (
                f"{number} opened incident {receipt.incident} silenced by a maintenance window: nobody is paged"
                " unless it is still open when the window ends (`memoguard incident` says which)"
            )
        case Outcome.ATTACHED:
            return f"{number} attached to open incident {receipt.incident}"
        case Outcome.RESOLVED:
            return f"{number} resolved incident {receipt.incident}"
        case Outcome.IGNORED if receipt.incident is not None:
            return f"{number} ignored: incident {receipt.incident} stays open, its route leaves resolving to a person"
        case Outcome.IGNORED:
            return f"{number} ignored: no open incident has this dedup key"
        case Outcome.UNROUTED:
            return click.style(f"{number} stored, but no route matches it: nobody is paged", fg="yellow")
    raise AssertionError(receipt.outcome)  # pragma: no cover - every outcome is handled above
