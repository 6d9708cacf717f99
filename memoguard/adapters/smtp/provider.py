"""The SMTP provider: each message to a person becomes one e-mail (message.py) handed to the configured
mail server (transport.py); a refusal becomes the DeliveryError the dispatcher acts on (errors.py).

``send`` returns the e-mail's Message-ID, which the dispatcher keeps as the provider's id for the
notification: it is what a bounce or a reply quotes, and what the mail server's logs show.
"""

from __future__ import annotations

from email.headerregistry import Address
from email.utils import format_datetime

from memoguard.adapters.smtp.errors import delivery_error
from memoguard.adapters.smtp.message import EmailRenderer, Links, ReplyTo, build
from memoguard.adapters.smtp.transport import Server, send
from memoguard.config.schema import SmtpProvider as SmtpSettings
from memoguard.services.clock import Clock
from memoguard.services.provider import Message


class SmtpProvider:
    def __init__(
        self,
        name: str,
        settings: SmtpSettings,
        password: str | None,
        clock: Clock,
        *,
        renderer: EmailRenderer | None = None,
        local_hostname: str | None = None,
        links: Links | None = None,
        reply_to: ReplyTo | None = None,
    ) -> None:
        if settings.username is not None and not password:
            raise ValueError(f"smtp {name}: the password is empty")
        self.name = name
        self._clock = clock
        self._renderer = renderer or EmailRenderer()
        self._links = links
        self._reply_to = reply_to
        local, _, domain = settings.from_.rpartition("@")
        self._sender = Address(display_name=settings.from_name, username=local, domain=domain)
        self._server = Server(
            host=settings.host,
            port=settings.port_or_default,
            tls=settings.tls,
            timeout=settings.timeout.total_seconds(),
            tls_ca=settings.tls_ca,
            username=settings.username,
            password=password,
            local_hostname=local_hostname,
        )

    def send(self, message: Message) -> str | None:
        mail = build(
            message, self._sender, self._renderer, format_datetime(self._clock.now()), self._links, self._reply_to
        )
        recipient = message.person.email if message.person is not None else None
        assert recipient is not None  # build refused a message without one
        try:
            send(self._server, mail, self._sender.addr_spec, recipient)
        except Exception as error:  # every failure leaves classified: the dispatcher needs retryable or not
            raise delivery_error(error, self._server.label) from None
        message_id = mail["Message-ID"]
        return str(message_id) if message_id is not None else None


__all__ = ["SmtpProvider"]
