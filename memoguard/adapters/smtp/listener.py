"""The inbound SMTP listener for replies to e-mail pages (issue 16), on aiosmtpd.

The site's mail server forwards ``memoguard+…@REPLY-DOMAIN`` here (a Postfix transport map or alias).
Every recipient is checked at RCPT time against ``MailReplies.recipient``: an address that is not a
valid reply address is refused with 550, so the listener delivers nowhere else and is never a relay.
An accepted message is read and acted on in a worker thread (the store is synchronous), then accepted
with 250 whatever it said: a sender must not learn from the answer whether an address acted.

When acting fails (the database is away, a deadlock), the answer is ``451 4.3.0``: a temporary failure,
so the sending server keeps the reply and delivers it again later, as it does for any busy mail server.
A 5xx would have been final: the reply bounced back to the person on call, their acknowledgement lost.
Delivering again is safe: the action rolled back, and acknowledging or confirming twice is a no-op.
The log names the incident, never the reply address (it is a credential for as long as the incident).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from memoguard.services.logfields import ids
from memoguard.services.mailreply import Outcome, ReplyDesk

log = logging.getLogger(__name__)
MAX_SIZE = 1_000_000  # a reply is a line of text; a megabyte leaves room for quoted pages and signatures


class _Handler:
    def __init__(self, replies: ReplyDesk) -> None:
        self._replies = replies
        self.outcomes: list[Outcome] = []

    # aiosmtpd calls the hooks with these arguments, used or not.
    async def handle_RCPT(
        self,
        server: SMTP,  # noqa: ARG002
        session: Session,  # noqa: ARG002
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],  # noqa: ARG002
    ) -> str:
        if self._replies.recipient(address) is None:
            return "550 5.1.1 No such reply address here (not a relay)"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: ARG002
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        for address in envelope.rcpt_tos:
            found = self._replies.recipient(address)
            incident = found[0] if found is not None else "?"
            try:
                outcome = await asyncio.to_thread(self._replies.receive, address, envelope.mail_from or "", parsed)
            except Exception:
                log.exception(
                    "e-mail reply about incident %s could not be acted on: asking for a retry",
                    incident,
                    extra=ids(incident, channel="email"),
                )
                return "451 4.3.0 Temporary failure, please try again later"
            log.info("e-mail reply about incident %s: %s", incident, outcome.why, extra=ids(incident, channel="email"))
            self.outcomes.append(outcome)
        return "250 2.0.0 OK"


class ReplyListener:
    """``start`` binds and serves in a thread of its own; ``stop`` closes. ``alive`` for /readyz."""

    def __init__(self, replies: ReplyDesk, host: str, port: int) -> None:
        self.handler = _Handler(replies)
        self._controller = Controller(
            self.handler, hostname=host, port=port, data_size_limit=MAX_SIZE, server_hostname=replies.domain
        )
        self._running = False
        replies.listening = lambda: self.alive

    def start(self) -> None:
        self._controller.start()
        self._running = True

    def stop(self) -> None:
        if self._running:
            self._controller.stop()
            self._running = False

    @property
    def alive(self) -> bool:
        return self._running and self._controller._thread is not None and self._controller._thread.is_alive()
