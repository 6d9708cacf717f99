"""Sending one e-mail: connect (STARTTLS, implicit TLS or clear), log in if configured, hand it over, quit.

One connection per message, opened and closed within ``send``: pages are few and urgent, and a
connection kept open between them would be found dead by the next page after a server's idle timeout
(Postfix: 5 minutes), costing that page a retry. Nothing here retries or sleeps; every failure goes
up as the exception smtplib raised and errors.py says what it means.

STARTTLS is required when configured: smtplib's ``starttls`` raises SMTPNotSupportedError when the
server does not offer it, so a stripped EHLO answer cannot silently downgrade the connection to clear
text. The certificate is verified against the system's CAs, or ``tls_ca``, and its host name checked.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    tls: Literal["starttls", "implicit", "none"]
    timeout: float  # seconds, for the connection and each reply
    tls_ca: str | None = None
    username: str | None = None
    password: str | None = None
    local_hostname: str | None = None  # what EHLO says (default: this machine's fully qualified name)

    @property
    def label(self) -> str:
        return f"smtp {self.host}:{self.port}"

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.tls_ca)


def send(server: Server, mail: EmailMessage, sender: str, recipient: str) -> None:
    """Hand ``mail`` to ``server`` for ``recipient``; raises what smtplib raises on any refusal."""
    client: smtplib.SMTP
    if server.tls == "implicit":
        client = smtplib.SMTP_SSL(
            server.host,
            server.port,
            local_hostname=server.local_hostname,
            timeout=server.timeout,
            context=server.context(),
        )
    else:
        client = smtplib.SMTP(server.host, server.port, local_hostname=server.local_hostname, timeout=server.timeout)
    try:
        client.ehlo()
        if server.tls == "starttls":
            client.starttls(context=server.context())
            client.ehlo()
        if server.username is not None:
            client.login(server.username, server.password or "")
        client.send_message(mail, from_addr=sender, to_addrs=[recipient])
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()  # the message is handed over (or not) already: a failed QUIT changes nothing
