"""Public holidays from the ``holidays`` package, behind the domain's HolidayCalendar protocol."""

from __future__ import annotations

from datetime import date

import holidays


class CountryHolidays:
    """Holidays of a country, optionally one subdivision: ``FR``, or ``FR-57`` for Moselle's extra days."""

    def __init__(self, code: str) -> None:
        country, _, subdivision = code.partition("-")
        try:
            self._days = holidays.country_holidays(country.upper(), subdiv=subdivision or None)
        except NotImplementedError:
            raise ValueError(
                f"unknown holiday calendar {code!r}: expected a country code such as FR or FR-57"
            ) from None
        self._code = code

    @property
    def code(self) -> str:
        return self._code

    def is_holiday(self, day: date) -> bool:
        return day in self._days

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CountryHolidays) and other.code == self.code

    def __hash__(self) -> int:
        return hash(self._code)

    def __repr__(self) -> str:
        return f"CountryHolidays({self._code!r})"
