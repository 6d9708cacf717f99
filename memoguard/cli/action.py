"""``memoguard ack|confirm|resolve|escalate ID --as PERSON``: act on an incident as a person."""

from __future__ import annotations

import click

from memoguard.cli.context import AppContext, pass_app
from memoguard.cli.output import emit_json
from memoguard.services.action import Verb
from memoguard.services.error import Invalid, NotFound, Refused
from memoguard.services.view import incident_summary

AS_HELP = "Who acts: a person of memoguard.yaml who was paged for the incident, or an admin."
EXIT_HELP = (
    "Exit code 0 when done, also when it changed nothing (the same person acknowledging twice); 1 when the"
    " incident or the person is unknown, or the action is refused (not paged for the incident and not an"
    " admin, incident already resolved)."
)


def _command(verb: Verb, name: str, summary: str, detail: str) -> click.Command:
    @click.command(name, help=f"{summary}\n\n{detail}\n\n{EXIT_HELP}", short_help=summary)
    @click.argument("incident_id", metavar="ID")
    @click.option("--as", "person", required=True, metavar="PERSON", help=AS_HELP)
    @click.option(
        "--bundle",
        is_flag=True,
        help="ID is the code of a storm bundle (a bundled page says 'reply 100a'): act on each of its incidents.",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    @pass_app
    def act(app: AppContext, incident_id: str, person: str, bundle: bool, as_json: bool) -> None:
        application = app.application()
        if bundle:
            _act_on_bundle(app, verb, incident_id, person, as_json)
            return
        try:
            outcome = application.actions.act(incident_id, verb, person, "cli")
        except (NotFound, Invalid) as error:
            raise click.ClickException(str(error)) from None
        except Refused as error:
            raise click.ClickException(f"incident {incident_id}: {error}") from None
        messages = [record.text for record in outcome.records]
        if as_json:
            with application.store.read() as unit:
                row = unit.incident_row(outcome.incident.id)
            assert row is not None  # it was just acted on, and incidents are never deleted
            emit_json({"changed": outcome.changed, "messages": messages, "incident": incident_summary(row)})
            return
        # One plain line, never wrapped: easy to read in a terminal and to grep in a script's log.
        text = "; ".join(messages)
        if outcome.changed:
            click.echo(f"Incident {outcome.incident.id} ({outcome.incident.state}): {text}")
        else:
            click.echo(f"Nothing changed on incident {outcome.incident.id} ({outcome.incident.state}): {text}")

    return act


def _act_on_bundle(app: AppContext, verb: Verb, code_text: str, person: str, as_json: bool) -> None:
    """Each incident of the bundle is acted on separately; exit code 1 only when none could be."""
    if not code_text.isdigit():
        raise click.BadParameter(f"{code_text!r} is not a bundle code (a number such as 100)", param_hint="ID")
    try:
        results = app.application().actions.act_on_bundle(int(code_text), verb, person, "cli")
    except (NotFound, Invalid) as error:
        raise click.ClickException(str(error)) from None
    report: dict[str, dict[str, object]] = {}
    lines = []
    for incident, result in results.items():
        if isinstance(result, Refused):
            report[incident] = {"done": False, "messages": [str(result)]}
            lines.append(f"Incident {incident}: refused: {result}")
        else:
            messages = [r.text for r in result.records]
            report[incident] = {"done": True, "changed": result.changed, "messages": messages}
            lines.append(f"Incident {incident} ({result.incident.state}): {'; '.join(messages)}")
    if as_json:
        emit_json({"bundle": int(code_text), "incidents": report})
    else:
        click.echo("\n".join(lines))
    if not any(entry["done"] for entry in report.values()):
        raise SystemExit(1)


acknowledge = _command(
    Verb.ACK,
    "ack",
    "Acknowledge incident ID: escalation stops.",
    "With a double acknowledgement policy a confirmation must follow (`memoguard confirm`); with a quorum,"
    " the incident is acknowledged once enough different people have acked.",
)
confirm = _command(
    Verb.CONFIRM,
    "confirm",
    "Confirm incident ID: taken in hand (double acknowledgement).",
    "The second stage of a double acknowledgement; it also counts as the acknowledgement when none was"
    " given. Under a single acknowledgement policy it is an acknowledgement.",
)
resolve = _command(
    Verb.RESOLVE,
    "resolve",
    "Resolve incident ID: everything stops.",
    "Pending timers and notifications for the incident are cancelled.",
)
escalate = _command(
    Verb.ESCALATE,
    "escalate",
    "Escalate incident ID now: page the next step at once.",
    "Whoever acknowledged is released (and told); past the last step the crisis cell is paged.",
)
