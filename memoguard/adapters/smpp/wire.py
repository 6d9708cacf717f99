"""The socket side of a link: connecting to the SMSC (TCP, TLS checked against the host name), smpplib's
client on that socket, exact reads and writes, and a socket or TLS error put in the words an operator
reads in ``problem`` and the log ("TLS certificate not trusted: …", "cannot resolve …").

Only the link thread touches a ``Client`` (smpplib is not thread-safe): see link.py.
"""

from __future__ import annotations

import logging
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from smpplib import client as smpp_client
from smpplib import consts as smpp_consts
from smpplib import exceptions as smpp_errors

from memoguard.config.schema import SmppProvider as SmppSettings

log = logging.getLogger("memoguard.adapters.smpp.link")

# smpplib logs every PDU in hex at DEBUG, the bind's password included: its logger stays at INFO.
_SMPPLIB_LOGGER = "memoguard.adapters.smpp.smpplib"


class Lost(Exception):
    """The connection ended or broke; ``reason`` says how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Client(smpp_client.Client):  # type: ignore[misc]  # smpplib has no type hints
    """smpplib's client on a socket opened here (so TLS verifies the host name, and IPv6 works)."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        logging.getLogger(_SMPPLIB_LOGGER).setLevel(logging.INFO)
        super().__init__("", 0, timeout=timeout, logger_name=_SMPPLIB_LOGGER, allow_unknown_opt_params=True)
        self._socket: socket.socket | None = sock
        self.sock = sock
        self.state = smpp_consts.SMPP_CLIENT_STATE_OPEN

    def release(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self.state = smpp_consts.SMPP_CLIENT_STATE_CLOSED


@dataclass(frozen=True)
class Peer:
    """The SMSC at ``settings.host:settings.port``, and how long to wait for it."""

    label: str
    settings: SmppSettings
    timeout: float

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def connect(self) -> socket.socket:
        settings = self.settings
        context = None
        if settings.tls:
            try:
                context = ssl.create_default_context(cafile=settings.tls_ca)
            except OSError as error:
                raise OSError(f"cannot read the CA bundle {settings.tls_ca}: {error.strerror or error}") from None
        sock = socket.create_connection((settings.host, settings.port), timeout=self.timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if context is not None:
                return context.wrap_socket(sock, server_hostname=settings.host)
        except BaseException:
            sock.close()
            raise
        return sock

    def read_exact(self, sock: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = sock.recv(size - len(data))
            if not chunk:
                raise Lost(f"{self.address} closed the connection")
            data += chunk
        return data

    def send(self, client: Client, message: Any) -> None:
        try:
            client.send_pdu(message)
        except (smpp_errors.ConnectionError, OSError) as error:
            raise Lost(f"cannot write to {self.address}: {self.why(error)}") from None
        except smpp_errors.PDUError as error:  # smpplib refuses a command in the current bind state
            log.warning("%s: did not send %s: %s", self.label, message.command, error)

    def why(self, error: BaseException) -> str:
        if isinstance(error, Lost):
            return error.reason
        if isinstance(error, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted: {error.verify_message}"
        if isinstance(error, ssl.SSLError):
            return f"TLS failed: {error.reason or error}"
        if isinstance(error, socket.gaierror):
            return f"cannot resolve {self.settings.host}: {error.strerror}"
        if isinstance(error, TimeoutError):
            return f"no answer within {self.timeout:g}s"
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(error, smpp_errors.ConnectionError):
            return str(error) or "connection broken"
        if isinstance(error, OSError) and error.strerror:
            return error.strerror[:1].lower() + error.strerror[1:]
        return str(error) or type(error).__name__
