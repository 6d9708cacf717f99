"""A fake service manager's end of sd_notify: a real unix datagram socket the test binds and reads.

systemd reads datagrams of ``KEY=VALUE`` lines on $NOTIFY_SOCKET; so does this, keeping each one with
the monotonic time it arrived. Bound in the abstract namespace (``@name``, as systemd does in some
containers) or at a path.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path
from types import TracebackType


class NotifySocket:
    def __init__(self, path: Path | None = None) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if path is None:
            name = f"memoguard-test-{os.getpid()}-{uuid.uuid4().hex}"
            self._sock.bind("\0" + name)
            self.address = "@" + name  # what $NOTIFY_SOCKET says
        else:
            self._sock.bind(str(path))
            self.address = str(path)
        self.received: list[tuple[float, list[str]]] = []

    def __enter__(self) -> NotifySocket:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def read(self, timeout: float) -> list[str] | None:
        """The next datagram's lines, or None if nothing came within ``timeout`` seconds."""
        self._sock.settimeout(timeout)
        try:
            data = self._sock.recv(4096)
        except TimeoutError:
            return None
        lines = data.decode().split("\n")
        self.received.append((time.monotonic(), lines))
        return lines

    def wait_for(self, line: str, timeout: float) -> list[str]:
        """Read until a datagram holding ``line`` arrives; fail naming it after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            lines = self.read(left)
            if lines is not None and line in lines:
                return lines
        raise AssertionError(f"no {line!r} within {timeout}s; received: {[m for _, m in self.received]}")

    def drain(self, seconds: float) -> list[list[str]]:
        """Every datagram received over the next ``seconds`` seconds."""
        got = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            lines = self.read(left)
            if lines is not None:
                got.append(lines)
        return got
