"""``memoguard token create|list|revoke`` and ``memoguard audit``: personal API tokens and the audit trail.

The CLI runs on the service host with the database's credentials: it is the operator on the machine,
needs no token, and is audited as ``cli``.
"""

from __future__ import annotations

import getpass
from datetime import datetime, timedelta

import click
from rich.markup import escape
from rich.table import Table

from memoguard.cli.context import AppContext, pass_app
from memoguard.cli.output import console, emit_json, show_time
from memoguard.cli.when import resolve_when
from memoguard.domain.duration import parse_duration
from memoguard.domain.errors import InvalidValueError
from memoguard.services.access import Context
from memoguard.services.error import Invalid, NotFound
from memoguard.services.record import AuditEntry, StoredToken


def _cli() -> Context:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = None
    return Context("cli", f"host user {user}" if user else None)


@click.group()
def token() -> None:
    """Personal API tokens: what a person sends as 'Authorization: Bearer' to the incidents and on-call API.

    A token is shown once, when created; memoguard keeps only its SHA-256 digest.
    """


@token.command()
@click.option("--as", "person", required=True, metavar="PERSON", help="Whose token: a person of memoguard.yaml.")
@click.option("--name", default="default", show_default=True, help="What it is for (laptop, script…), for the audit.")
@click.option("--expires", metavar="DURATION", help="Lifetime (90d, 12h, 1w); default: until revoked.")
@pass_app
def create(app: AppContext, person: str, name: str, expires: str | None) -> None:
    """Create a token for PERSON and print it (once: it cannot be shown again)."""
    lifetime: timedelta | None = None
    if expires is not None:
        try:
            lifetime = parse_duration(expires)
        except InvalidValueError as error:
            raise click.UsageError(f"--expires: {error}") from None
    try:
        created, secret = app.application().access.create(person, name, lifetime, _cli())
    except Invalid as error:
        raise click.UsageError(str(error)) from None
    zone = app.config().timezone
    until = "never expires" if created.expires_at is None else f"expires {show_time(created.expires_at, zone)}"
    click.echo(
        f"Token #{created.id} for {person} ({escape(created.name)}, {until}). Shown once, keep it now:", err=True
    )
    click.echo(secret)


@token.command("list")
@click.option("--as", "person", metavar="PERSON", help="Only this person's tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_app
def list_tokens(app: AppContext, person: str | None, as_json: bool) -> None:
    """The tokens (never the tokens themselves): whose, name, created, expiry, last use, revoked."""
    try:
        found = app.application().access.tokens(person)
    except Invalid as error:
        raise click.UsageError(str(error)) from None
    if as_json:
        emit_json({"tokens": [_token_json(t) for t in found]})
        return
    if not found:
        console().print("No tokens.")
        return
    zone = app.config().timezone
    now = app.clock.now()
    table = Table(title=f"Personal API tokens (times in {zone})")
    for column in ("id", "person", "name", "created", "expires", "last used", "state"):
        table.add_column(column, justify="right" if column == "id" else "left")
    for t in found:
        state = "revoked" if t.revoked_at else "expired" if not t.usable(now) else "active"

        def shown(value: datetime | None) -> str:
            return "-" if value is None else show_time(value, zone)

        table.add_row(
            f"#{t.id}",
            t.person,
            escape(t.name),
            shown(t.created_at),
            shown(t.expires_at),
            shown(t.last_used_at),
            state,
            style="dim" if state != "active" else "",
        )
    console().print(table)


@token.command()
@click.argument("token_id", metavar="ID", type=int)
@pass_app
def revoke(app: AppContext, token_id: int) -> None:
    """Revoke token ID (see `token list`) at once. Exit code 1 when there is no such token."""
    try:
        revoked = app.application().access.revoke(token_id, _cli())
    except NotFound as error:
        raise click.ClickException(str(error)) from None
    console().print(f"Token #{revoked.id} of {revoked.person} ({escape(revoked.name)}) revoked.")


def _token_json(t: StoredToken) -> dict[str, object]:
    return {
        "id": t.id,
        "person": t.person,
        "name": t.name,
        "created_at": t.created_at,
        "expires_at": t.expires_at,
        "revoked_at": t.revoked_at,
        "last_used_at": t.last_used_at,
    }


@click.command()
@click.option(
    "--since",
    metavar="WHEN",
    help="From when: a duration ago (24h, 7d), or 'YYYY-MM-DD HH:MM' local, or ISO 8601; default: all.",
)
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True, help="At most this many.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_app
def audit(app: AppContext, since: str | None, limit: int, as_json: bool) -> None:
    """The audit trail, oldest first: who did what, how (token, sms, cli), from where, when."""
    zone = app.config().timezone
    start: datetime | None = None
    if since is not None:
        try:
            start = app.clock.now() - parse_duration(since)
        except InvalidValueError:
            start = resolve_when(since, app.clock.now(), zone, "--since")
    entries = app.application().access.audit(start, limit)
    if as_json:
        emit_json({"audit": [_audit_json(e) for e in entries]})
        return
    if not entries:
        console().print("Nothing audited" + ("" if start is None else f" since {show_time(start, zone)}") + ".")
        return
    table = Table(title=f"Audit trail (times in {zone})")
    for column in ("when", "who", "action", "how", "from", "on", "detail"):
        table.add_column(column)
    for e in entries:
        table.add_row(
            e.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            escape(e.person or "-"),
            e.action,
            escape(e.how),
            escape(e.address or "-"),
            escape(e.target or "-"),
            escape(e.detail),
        )
    console().print(table)


def _audit_json(e: AuditEntry) -> dict[str, object]:
    return {
        "id": e.id,
        "at": e.at,
        "person": e.person,
        "action": e.action,
        "how": e.how,
        "address": e.address,
        "target": e.target,
        "detail": e.detail,
    }
