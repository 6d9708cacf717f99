"""The smpp provider: SMS pages out through an SMSC over SMPP 3.4, receipts and replies in.

Nothing connects when it is built (a CLI command builds providers without sending anything): the
service calls ``start``, and ``send`` starts the link too, then waits at most ``timeout`` for the first
bind. Each part of a message is one submit_sm; ``send`` returns the SMSC's message ids, one per part,
joined by spaces. Failures map onto the dispatcher's contract: throttling (ESME_RTHROTTLED,
ESME_RMSGQFUL) asks it to wait, a bad address or content is permanent, and anything else — timeouts,
a link that is down, other statuses — may work later.
"""

from __future__ import annotations

import random
import threading

from memoguard.adapters.smpp import address, status, udh
from memoguard.adapters.smpp.encoding import MessageTooLong, encode
from memoguard.adapters.smpp.link import Link
from memoguard.adapters.smpp.reception import Reception
from memoguard.adapters.smpp.request import LinkDown, NoAnswer, Response
from memoguard.config.schema import SmppProvider as SmppSettings
from memoguard.services.clock import Clock
from memoguard.services.inbox import Inbox, SmsParts
from memoguard.services.provider import DeliveryError, Message


class SmppProvider:
    sms = True  # STOP opt-outs apply to what it sends

    def __init__(
        self, name: str, settings: SmppSettings, password: str, inbox: Inbox, clock: Clock, parts: SmsParts
    ) -> None:
        """``parts`` keeps the parts of long texts received until they are whole."""
        self.name = name
        self._settings = settings
        self._source = address.source(settings.source)
        self._timeout = settings.timeout.total_seconds()
        reception = Reception(name, inbox, clock, parts)
        self._transmitter: Link
        if settings.bind == "transceiver":
            self._transmitter = Link(name, settings, password, "transceiver", clock, reception)
            self._links: tuple[Link, ...] = (self._transmitter,)
        else:
            self._transmitter = Link(f"{name} (transmitter)", settings, password, "transmitter", clock, None)
            receiver = Link(f"{name} (receiver)", settings, password, "receiver", clock, reception)
            self._links = (self._transmitter, receiver)
        self._reference = random.randrange(256)  # only tells two messages' parts apart
        self._lock = threading.Lock()

    def start(self) -> None:
        """Open the link(s) in the background; returns at once. Calling it again does nothing."""
        for link in self._links:
            link.start()

    def close(self) -> None:
        """Unbind, stop the threads and close the sockets. Calling it again does nothing."""
        for link in self._links:
            link.close()

    @property
    def problem(self) -> str | None:
        """None while every bind is up, else why not, in one line."""
        for link in self._links:
            problem = link.problem
            if problem is not None:
                return problem
        return None

    def wait_bound(self, timeout: float) -> bool:
        """Wait until every bind is up (start-up checks, tests); False if one is not within ``timeout``."""
        return all(link.wait_bound(timeout) for link in self._links)

    def send(self, message: Message) -> str:
        person = message.person
        if person is None:
            raise DeliveryError(f"{self.name}: an SMS needs a person to send it to", retryable=False)
        if not person.phone:
            raise DeliveryError(f"{self.name}: {person.name} has no phone number", retryable=False)
        destination = address.destination(person.phone)
        if destination is None:
            raise DeliveryError(
                f"{self.name}: {person.name}'s phone {person.phone!r} is not a number an SMS can go to", retryable=False
            )
        try:
            encoded = encode(message.text)
        except MessageTooLong as error:
            raise DeliveryError(f"{self.name}: {error}", retryable=False) from None
        self.start()
        link = self._transmitter
        if not link.wait_settled(self._timeout):
            raise DeliveryError(
                f"{self.name}: no bind to {self._settings.host}:{self._settings.port} within {self._timeout:g}s",
                retryable=True,
            )
        total = len(encoded.parts)
        reference = self._next_reference() if total > 1 else 0
        ids: list[str] = []
        for seq, part in enumerate(encoded.parts, start=1):
            header = udh.concatenation(reference, total, seq) if total > 1 else b""
            fields = {
                "service_type": "",
                "source_addr_ton": self._source.ton,
                "source_addr_npi": self._source.npi,
                "source_addr": self._source.address,
                "dest_addr_ton": destination.ton,
                "dest_addr_npi": destination.npi,
                "destination_addr": destination.address,
                "esm_class": udh.UDHI if total > 1 else 0,
                "registered_delivery": 1 if self._settings.receipts else 0,
                "data_coding": encoded.data_coding,
                "short_message": header + part,
            }
            progress = f" (part {seq} of {total}, after {seq - 1} accepted)" if seq > 1 else ""
            try:
                response = link.submit(fields)
            except LinkDown as error:
                raise DeliveryError(error.reason + progress, retryable=True) from None
            except NoAnswer as error:
                raise DeliveryError(f"{self.name}: {error}{progress}", retryable=True) from None
            if response.status != status.ROK:
                raise self._refused(response, destination.address, progress)
            ids.append(response.message_id)
        return " ".join(ids)

    def _refused(self, response: Response, destination: str, progress: str) -> DeliveryError:
        code = response.status
        reason = f"{self.name}: submit_sm to {destination} refused: {status.describe(code)}{progress}"
        if code in status.THROTTLING:
            return DeliveryError(reason, retryable=True, retry_after=status.THROTTLE_WAIT)
        return DeliveryError(reason, retryable=code not in status.PERMANENT)

    def _next_reference(self) -> int:
        with self._lock:
            self._reference = (self._reference + 1) % 256
            return self._reference
