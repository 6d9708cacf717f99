"""Wall-clock arithmetic: weekdays, times of day and the mapping from local time to an instant.

Handoffs and active windows are written in a roster's local time, so every boundary is computed as a
local (naive) datetime first and only then turned into an instant. That is what keeps a 09:00 handoff
at 09:00 on both sides of a daylight-saving change.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from memoguard.domain.errors import InvalidValueError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_FRENCH_WEEKDAYS = ("lun", "mar", "mer", "jeu", "ven", "sam", "dim")
_WEEKDAY_NAMES = {
    name: index for names in (WEEKDAYS, _FULL_WEEKDAYS, _FRENCH_WEEKDAYS) for index, name in enumerate(names)
}
_TIME = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")


def parse_weekday(text: str) -> int:
    """Return 0 for Monday … 6 for Sunday; accepts mon…sun, monday…sunday and lun…dim."""
    index = _WEEKDAY_NAMES.get(text.strip().lower())
    if index is None:
        raise InvalidValueError(f"invalid weekday {text!r}: expected one of {', '.join(WEEKDAYS)}")
    return index


def parse_time_of_day(text: str) -> time:
    """Parse ``HH:MM`` (24-hour clock)."""
    match = _TIME.fullmatch(text.strip())
    if not match:
        raise InvalidValueError(f"invalid time of day {text!r}: expected HH:MM on a 24-hour clock, e.g. 08:30")
    return time(int(match.group(1)), int(match.group(2)))


def parse_handoff(text: str) -> tuple[int | None, time]:
    """Parse ``09:00`` or ``mon 09:00`` into (weekday or None, time of day)."""
    parts = text.split()
    if len(parts) == 1:
        return None, parse_time_of_day(parts[0])
    if len(parts) == 2:
        return parse_weekday(parts[0]), parse_time_of_day(parts[1])
    raise InvalidValueError(f"invalid handoff {text!r}: expected 'HH:MM' or 'WEEKDAY HH:MM', e.g. 'mon 09:00'")


def to_instant(local: datetime, zone: tzinfo) -> datetime:
    """Turn a naive local datetime into an aware UTC instant.

    An ambiguous time (the repeated hour in autumn) is its first occurrence. A time that does not exist
    (the skipped hour in spring) becomes the moment of the change, the first instant whose local time
    is not earlier: a 02:30 handoff on a 02:00→03:00 night happens at 03:00, and a window that opens
    at 02:30 is open from 03:00, which is also what reading the clock at 03:00 says.
    """
    first = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if to_local(first, zone) == local:
        return first
    # In a gap, fold=1 reads the time with the offset after the change and lands before it, fold=0
    # with the offset before and lands after it: the change lies between the two.
    return offset_change(local.replace(tzinfo=zone, fold=1).astimezone(UTC), first, zone)


def offset_change(low: datetime, high: datetime, zone: tzinfo) -> datetime:
    """The first instant in (low, high] whose UTC offset in ``zone`` is the one ``high`` has: the moment
    of the change, for two instants either side of a single offset change."""
    offset = high.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == offset:
            high = middle
        else:
            low = middle
    # Zone changes happen on whole seconds, so the second that ``high`` falls in is the change itself.
    return high.replace(microsecond=0)


def to_local(instant: datetime, zone: tzinfo) -> datetime:
    """Naive local wall-clock time of an aware instant."""
    return instant.astimezone(zone).replace(tzinfo=None)


def parse_local_datetime(text: str, zone: tzinfo) -> datetime:
    """Parse ``YYYY-MM-DD HH:MM`` (local to ``zone``) or an ISO 8601 instant with an offset."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidValueError(
            f"invalid date and time {text!r}: expected 'YYYY-MM-DD HH:MM' or ISO 8601 with an offset"
        ) from None
    if parsed.tzinfo is None:
        return to_instant(parsed, zone)
    return parsed.astimezone(UTC)


def midnight(day: date) -> datetime:
    """Naive local midnight at the start of ``day``."""
    return datetime.combine(day, time())
