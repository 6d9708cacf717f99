"""The sd_notify protocol, spoken directly: one datagram of ``KEY=VALUE`` lines to ``$NOTIFY_SOCKET``.

Why not libsystemd or the ``sdnotify``/``systemd-python`` packages: the protocol is a single ``sendto`` on
a unix datagram socket (systemd's own documentation says to implement it when linking is unwelcome), and a
C library or one more dependency for it would be a heavier thing to install on a bare server than these
few lines. What ``serve`` says (systemd.service(5), sd_notify(3)):

- ``READY=1`` once the database answers, the configuration is loaded, the engine's loops run and the HTTP
  port listens (``Type=notify``: systemd starts ``After=`` units and reports the start only then);
- ``WATCHDOG=1`` from the engine's loops themselves (``engine/watchdog.py``), never from a thread that
  would keep answering while the loops are stuck;
- ``STOPPING=1`` when a stop begins, ``RELOADING=1`` … ``READY=1`` around a configuration reload, and
  ``STATUS=`` lines for ``systemctl status``.

Outside systemd (no ``$NOTIFY_SOCKET``) every call does nothing. A socket name starting with ``@`` is in
the abstract namespace (a leading NUL byte), as systemd passes it inside some containers.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class NotifyError(ValueError):
    """$NOTIFY_SOCKET or $WATCHDOG_USEC holds something systemd never writes; the message names it."""


def _address(value: str) -> str:
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    raise NotifyError(
        f"NOTIFY_SOCKET={value!r}: expected an absolute path or an abstract socket name starting with '@'"
    )


class Notifier:
    """Sends sd_notify messages to ``address`` (the value of $NOTIFY_SOCKET), or nowhere when it is None."""

    def __init__(self, address: str | None) -> None:
        self._address = _address(address) if address else None
        self._failed = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *assignments: str) -> bool:
        """Send ``assignments`` (``READY=1``, ``STATUS=…``) as one datagram; False when not sent.

        A failure is logged once and never raised: the service must go on paging even if the manager's
        socket went away (systemd then restarts it on the watchdog, which is the right outcome)."""
        if self._address is None:
            return False
        payload = "\n".join(assignments).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(payload, self._address)
        except OSError as error:
            if not self._failed:
                log.warning("could not notify the service manager (%s): %s", self._address.lstrip("\0"), error)
            self._failed = True
            return False
        self._failed = False
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", f"STATUS={status}")

    def stopping(self, status: str) -> bool:
        return self.notify("STOPPING=1", f"STATUS={status}")

    def reloading(self, monotonic_usec: int) -> bool:
        # MONOTONIC_USEC is required with RELOADING=1 by Type=notify-reload (systemd 253); older ones ignore it.
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec}")

    def status(self, status: str) -> bool:
        return self.notify(f"STATUS={status}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")


def watchdog_seconds(environ: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """The watchdog timeout systemd asks for (``WatchdogSec=``), in seconds, or None when there is none
    or it is meant for another process (``$WATCHDOG_PID``, as sd_watchdog_enabled(3) reads them)."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    if not usec.isdigit() or int(usec) == 0:
        raise NotifyError(f"WATCHDOG_USEC={usec!r}: expected a positive whole number of microseconds")
    owner = env.get("WATCHDOG_PID")
    if owner:
        if not owner.isdigit():
            raise NotifyError(f"WATCHDOG_PID={owner!r}: expected a process id")
        if int(owner) != (os.getpid() if pid is None else pid):
            return None
    return int(usec) / 1_000_000
