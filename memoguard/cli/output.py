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
