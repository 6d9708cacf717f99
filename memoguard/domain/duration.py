"""Durations as written in configuration: ``30s``, ``5m``, ``4h``, ``2d``, ``1w`` or ``1h30m``."""

from __future__ import annotations

import re
from datetime import timedelta

from memoguard.domain.errors import InvalidValueError

_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1)}
_UNITS |= {"m": timedelta(minutes=1), "s": timedelta(seconds=1)}
_PART = re.compile(r"([0-9]+)([wdhms])")
_WHOLE = re.compile(r"(?:[0-9]+[wdhms])+")


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as ``5m`` or ``1h30m``; raise InvalidValueError otherwise."""
    cleaned = text.strip().lower()
    if not _WHOLE.fullmatch(cleaned):
        raise InvalidValueError(
            f"invalid duration {text!r}: expected a number and a unit (s, m, h, d, w), e.g. 30s, 5m, 4h, 1w"
        )
    total = timedelta()
    try:
        for amount, unit in _PART.findall(cleaned):
            total += int(amount) * _UNITS[unit]
    except OverflowError:
        raise InvalidValueError(f"invalid duration {text!r}: too long") from None
    if total <= timedelta():
        raise InvalidValueError(f"invalid duration {text!r}: must be longer than zero")
    return total


def format_duration(value: timedelta) -> str:
    """Render a duration the way configuration writes it (``1h30m``); ``0s`` for zero."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return sign + "".join(parts)
