"""The application in force, swapped whole by a configuration reload (issue 19).

A reload builds a new ``Application`` on the same store, providers and metrics (bootstrap/service.py) and
swaps it in here; the HTTP routes and the engine's loops take ``current()`` at each request and each
round, so a request or a round under way finishes with the configuration it began with. What the
configuration decides lives in the use cases built from it: routes, policies and rosters for new
incidents (an open incident keeps the copies it was opened with), people's contacts for the next page,
sources' tokens for the next alarm, the link secret for the next link signed or read.

Providers and the e-mail reply listener are built once: their links (an SMSC) and ports stay up across
reloads. Whatever of the configuration they need when something comes in or goes out, they reach through
the application in force, never through the one they were built with: what SMS providers receive
(``CurrentInbox``), what a call says and what its keys do (``CurrentCalls``, the people and actions of
now: a person added by a reload can be called, a removed one can no longer press a key), the links and
the Reply-To of an e-mail page (``current_links``, ``current_reply_address``: signed with the secret in
force) and the replies to them (``CurrentMailReplies``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage

from memoguard.domain.person import Person
from memoguard.services.application import Application
from memoguard.services.inbox import Inbound, Inbox, Receipt
from memoguard.services.mailreply import MailReplies, Outcome
from memoguard.services.voice import Call, Calls, Script


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


class CurrentCalls:
    """A voice provider's calls, answered by the application in force: the person called is looked up
    in today's people, a key acts through today's actions."""

    def __init__(self, live: Live) -> None:
        self._live = live

    def _calls(self) -> Calls:
        calls = self._live.current().calls
        if calls is None:  # serve always builds them; an application without them places no calls
            raise RuntimeError("the application in force answers no calls")
        return calls

    def call(self, provider: str, sid: str, signed: int | None) -> Call:
        return self._calls().call(provider, sid, signed)

    def answer(self, call: Call, answered_by: str | None, attempt: int) -> Script:
        return self._calls().answer(call, answered_by, attempt)

    def key(self, call: Call, digits: str, attempt: int) -> Script:
        return self._calls().key(call, digits, attempt)

    def status(self, call: Call, status: str, answered_by: str | None, error: str | None) -> None:
        self._calls().status(call, status, answered_by, error)

    def current(self) -> Calls:
        return self._calls()


def current_links(live: Live) -> Callable[[str, str, int | None, datetime], dict[str, str]]:
    """The links of an e-mail page, signed with the link secret in force (none when links are off)."""

    def links(incident: str, person: str, step: int | None, sent: datetime) -> dict[str, str]:
        signer = live.current().links
        return signer.for_page(incident, person, step, sent) if signer is not None else {}

    return links


def current_reply_address(live: Live) -> Callable[[str, str], str | None]:
    """The Reply-To of an e-mail page, under the link secret in force (none when replies are off)."""

    def address(incident: str, person: str) -> str | None:
        replies = live.current().mail_replies
        return replies.address(incident, person) if replies is not None else None

    return address


class CurrentMailReplies:
    """Replies to e-mail pages, read by the application in force (its people, its secret, its actions).
    ``domain`` (``http.reply_domain``) only changes with a restart; ``listening`` is what /readyz asks,
    kept on the application in force (a reload carries it over: bootstrap)."""

    def __init__(self, live: Live) -> None:
        self._live = live
        self.domain = self._replies().domain

    def _replies(self) -> MailReplies:
        replies = self._live.current().mail_replies
        if replies is None:  # http.reply_domain is restart-only: it cannot go away under a listener
            raise RuntimeError("the application in force takes no e-mail replies")
        return replies

    @property
    def listening(self) -> Callable[[], bool]:
        return self._replies().listening

    @listening.setter
    def listening(self, alive: Callable[[], bool]) -> None:
        self._replies().listening = alive

    def recipient(self, address: str) -> tuple[str, Person] | None:
        return self._replies().recipient(address)

    def receive(self, address: str, envelope_sender: str, mail: EmailMessage) -> Outcome:
        return self._replies().receive(address, envelope_sender, mail)
