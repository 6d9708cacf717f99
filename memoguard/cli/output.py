"""Rendering for people (rich tables) and for scripts (--json)."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, tzinfo
from typing import Any

import click
from rich.console import Console

from memoguard.domain.duration import format_duration


def console() -> Console:
    # Built per call so that nothing happens at import time and click's test runner captures it.
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return format_duration(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def show_time(value: datetime, zone: tzinfo) -> str:
    """``Mon 2026-12-21 08:30`` in ``zone``."""
    return value.astimezone(zone).strftime("%a %Y-%m-%d %H:%M")


def show_duration(value: timedelta) -> str:
    return format_duration(timedelta(minutes=round(value.total_seconds() / 60)))


def show_instant(value: datetime | str, zone: tzinfo) -> str:
    """``2026-12-21 08:30:05`` in ``zone``, for timelines where seconds matter; ISO strings (the shape of
    the JSON-ready views) are accepted as they are."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


STATE_STYLES = {
    "silenced": "magenta",
    "triggered": "bold red",
    "acknowledged": "yellow",
    "confirmed": "cyan",
    "resolved": "green",
}


def show_state(state: str) -> str:
    """The incident state, coloured for a rich table."""
    return f"[{STATE_STYLES.get(state, '')}]{state}[/]" if state in STATE_STYLES else state
