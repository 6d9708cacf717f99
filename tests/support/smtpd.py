"""A real SMTP server for the tests: aiosmtpd on loopback, in a thread, like smsc.py is for SMPP.

It keeps every e-mail it accepts (parsed with the modern ``email`` policy, so a test reads the
headers and both parts as a mail client would) and answers RCPT from a script: each scripted reply
answers one RCPT command in turn ("421 4.7.0 Too many messages, slow down"), then RCPT is accepted.
With a TLS context it offers STARTTLS (and requires it), or speaks TLS from the first byte
(``implicit``); with ``logins`` it requires a login (only over TLS, as aiosmtpd insists).
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: tuple[str, ...]
    mail: EmailMessage
    tls: bool  # whether the session was encrypted when the e-mail was handed over
    login: str | None


class Handler:
    def __init__(self, rcpt: list[str]) -> None:
        self.rcpt = list(rcpt)
        self.rcpt_seen: list[str] = []
        self.received: list[Received] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        self.rcpt_seen.append(address)
        if self.rcpt:
            answer = self.rcpt.pop(0)
            if not answer.startswith("250"):
                return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # As a mailbox stores it: lines end with LF once off the wire.
        content = (envelope.original_content or b"").replace(b"\r\n", b"\n")
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self.received.append(
            Received(
                sender=envelope.mail_from or "",
                recipients=tuple(envelope.rcpt_tos),
                mail=parsed,
                # STARTTLS sets session.ssl; implicit TLS shows on the connection itself.
                tls=session.ssl is not None
                or (server.transport is not None and server.transport.get_extra_info("sslcontext") is not None),
                login=login,
            )
        )
        return "250 2.0.0 Ok: queued"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def mail_server(
    rcpt: list[str] | None = None,
    *,
    starttls: ssl.SSLContext | None = None,
    implicit: ssl.SSLContext | None = None,
    logins: Mapping[str, str] | None = None,
) -> Iterator[tuple[Handler, int]]:
    """A running server on 127.0.0.1: its handler (what it received) and its port."""
    handler = Handler(rcpt or [])
    options: dict[str, Any] = {}
    if starttls is not None:
        options.update(tls_context=starttls, require_starttls=True)
    if logins is not None:
        accepted = dict(logins)

        def authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and accepted.get(data.login.decode()) == data.password.decode()
            return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

        options.update(authenticator=authenticator, auth_require_tls=True)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ssl_context=implicit, **options)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()
