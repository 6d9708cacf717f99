"""Reading ``--at`` values: ``now``, ``+2h``, ``2026-12-24 20:00`` (local) or ISO 8601 with an offset."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

import click

from memoguard.domain.duration import parse_duration
from memoguard.domain.errors import InvalidValueError
from memoguard.domain.walltime import parse_local_datetime, to_instant, to_local

AT_HELP = "When: 'now' (default), '+2h', 'YYYY-MM-DD HH:MM' in the roster's time zone, or ISO 8601 with an offset."


def resolve_when(text: str | None, now: datetime, zone: tzinfo, option: str = "--at") -> datetime:
    """The instant ``text`` names; a UsageError that names ``option`` and quotes the input otherwise."""
    if text is None or text.strip().lower() == "now":
        return now
    try:
        if text.strip().startswith("+"):
            return now + parse_duration(text.strip()[1:])
        return parse_local_datetime(text, zone)
    except InvalidValueError as error:
        raise click.UsageError(f"{option}: {error}") from None


def days_later(start: datetime, days: int, zone: tzinfo) -> datetime:
    """``days`` calendar days after ``start`` in ``zone``: 14 days are 14 days on the wall clock, DST or not."""
    return to_instant(to_local(start, zone) + timedelta(days=days), zone)
