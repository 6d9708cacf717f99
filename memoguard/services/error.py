"""Errors the use cases raise for callers to turn into a 4xx or a CLI message. Each says what is wrong."""

from __future__ import annotations


class ServiceError(Exception):
    """Base: the request was understood and refused; nothing was changed."""


class NotFound(ServiceError):
    pass


class Invalid(ServiceError):
    pass


class Refused(ServiceError):
    """The state machine refused the action. ``closed``: because the incident is already resolved
    (rather than because the person may not act on it)."""

    def __init__(self, message: str, *, closed: bool = False) -> None:
        super().__init__(message)
        self.closed = closed
