"""Errors the domain raises when it is handed a value it cannot accept."""

from __future__ import annotations


class DomainError(Exception):
    """Base class for every error raised by the pure domain."""


class InvalidValueError(DomainError, ValueError):
    """A value (duration, time of day, weekday…) is malformed; the message says which and why."""


class UnknownLevelError(DomainError, LookupError):
    """A roster was asked for a level it does not define."""
