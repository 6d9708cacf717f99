"""The application in force, swapped whole by a configuration reload (issue 19).

A reload builds a new ``Application`` on the same store, providers and metrics (bootstrap.reloaded) and
swaps it in here; the HTTP routes and the engine's loops take ``current()`` at each request and each
round, so a request or a round under way finishes with the configuration it began with. What the
configuration decides lives in the use cases built from it: routes, policies and rosters for new
incidents (an open incident keeps the copies it was opened with), people's contacts for the next page,
sources' tokens for the next alarm.

Providers are built once: their links (an SMSC) stay up across reloads, and what they receive goes to
the application in force through ``CurrentInbox``.
"""

from __future__ import annotations

import threading

from memoguard.services.application import Application
from memoguard.services.inbox import Inbound, Inbox, Receipt


class Live:
    def __init__(self, application: Application | None = None) -> None:
        self._lock = threading.Lock()
        self._application = application

    def current(self) -> Application:
        with self._lock:
            if self._application is None:
                raise RuntimeError("no application yet: the service is still starting")
            return self._application

    def swap(self, application: Application) -> Application:
        """Put ``application`` in force; returns the one it replaces (or the same one, the first time)."""
        with self._lock:
            previous, self._application = self._application, application
        return previous or application


class CurrentInbox:
    """What SMS providers receive, handed to the application in force (its people, its actions)."""

    def __init__(self, live: Live) -> None:
        self._live = live

    def receipt(self, receipt: Receipt) -> None:
        self._live.current().replies.receipt(receipt)

    def reply(self, message: Inbound) -> None:
        self._live.current().replies.reply(message)


def current_inbox(live: Live) -> Inbox:
    return CurrentInbox(live)
