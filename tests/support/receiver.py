"""A loopback webhook receiver: a real HTTP server on 127.0.0.1, in a thread, that records every POST.

It stands in for the far side of the webhook provider: it can check signatures, enforce a sliding-window
rate limit (answering 429 with Retry-After, as real APIs do), fail on demand, and go down and come back
on the same port. Arrival times come from ``time.monotonic`` unless a ``now`` callable is injected, so
rate-limit arithmetic can be checked on hand-made times as well as on real traffic.

It is lean on purpose (the standard library's threading server, HTTP/1.1 keep-alive, no logging) so
that it keeps up with a few hundred requests per second and a rate measured on its side is the
sender's rate, not its own.

    with Receiver(secret="s3cret", limit=(10, 1.0)) as receiver:
        provider = WebhookProvider("hook", receiver.url, clock, secret="s3cret")
        ...
        assert receiver.wait_for(5)
        assert receiver.max_in_window(1.0) <= 10
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import httpx

from memoguard.adapters.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from memoguard.services.clock import Clock

ACCEPTED = "accepted"
REJECTED = "rejected"  # bad or missing signature: 401
THROTTLED = "throttled"  # over the rate limit: 429
FAILED = "failed"  # an injected failure

_Answer = tuple[int, list[tuple[str, str]], bytes]


@dataclass(frozen=True)
class Request:
    """One POST as received. ``headers`` is case-insensitive; ``json`` is None when the body is not JSON."""

    seq: int  # 1-based, in the order the receiver handled them
    at: float  # arrival time, from the receiver's ``now``
    path: str
    headers: httpx.Headers
    body: bytes
    json: Any
    status: int  # what the receiver answered
    outcome: str  # ACCEPTED, REJECTED, THROTTLED or FAILED


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver


class _Handler(BaseHTTPRequestHandler):
    # Keep-alive: a client reusing its connection costs one thread per connection, not per request.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; Nagle plus delayed ACKs would add ~40 ms to each answer.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.receiver._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.receiver._closed(self.connection)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        headers = httpx.Headers(list(self.headers.items()))
        status, extra, payload = self.server.receiver._handle(self.path, headers, body)
        self.send_response(status)
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the records are the log; stderr noise would only slow the server down


class Receiver:
    """``secret``: check ``X-Memoguard-Signature`` (a bad one answers 401, outcome REJECTED), with
    ``clock`` as the wall clock for the timestamp's freshness (the real one by default; pass the
    provider's fake clock to sign and check on the same time). ``limit=(count, seconds)``: at most
    ``count`` requests let through in any closed window of ``seconds`` (the same strictness as
    memoguard.domain.rate), beyond that 429 with Retry-After and ``throttled`` counts it. ``now``: the
    arrival-time source.

    Checks run in this order: injected failures (``fail``), then the rate limit, then the signature;
    only requests that pass all three are accepted (200 with ``{"id": "<seq>"}``).
    """

    def __init__(
        self,
        *,
        secret: str | None = None,
        limit: tuple[int, float] | None = None,
        now: Callable[[], float] = time.monotonic,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if limit is not None and (limit[0] < 1 or limit[1] <= 0):
            raise ValueError(f"limit {limit}: need at least one request per positive period")
        self.secret = secret
        self.limit = limit
        self.host = host
        self.port = port
        self._now = now
        self._clock: Clock = clock or _SystemClock()
        self._lock = threading.Lock()
        self._records: list[Request] = []
        self._passed: deque[float] = deque()  # times of requests the rate limit let through, oldest first
        self._failures: deque[tuple[int, list[tuple[str, str]]]] = deque()  # (status, headers) per coming request
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------------

    def __enter__(self) -> Receiver:
        self.up()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.down()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    @property
    def running(self) -> bool:
        return self._server is not None

    def up(self) -> None:
        """Listen (again): on an ephemeral port the first time, then on the same port."""
        if self._server is not None:
            return
        server = _Server((self.host, self.port), _Handler)  # SO_REUSEADDR: rebinding after down() works
        server.receiver = self
        self.port = server.server_address[1]
        self._server = server
        # A short poll interval keeps shutdown() (hence down() and each test's teardown) quick.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="receiver", daemon=True
        )
        self._thread.start()

    def down(self) -> None:
        """Refuse connections: close the listening socket and every open connection, so even a client
        holding a keep-alive connection gets a connection error rather than an answer."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)

    def _opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    # --- behaviour ------------------------------------------------------------------------------------

    def fail(
        self, status: int, times: int = 1, *, retry_after: int | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        """Answer the next ``times`` requests with ``status``, with Retry-After when given and any other
        ``headers`` (a Location for a redirect)."""
        extra = [*(headers or {}).items()]
        if retry_after is not None:
            extra.append(("Retry-After", str(retry_after)))
        with self._lock:
            self._failures.extend([(status, extra)] * times)

    def _handle(self, path: str, headers: httpx.Headers, body: bytes) -> _Answer:
        try:
            parsed: Any = json.loads(body)
        except ValueError:
            parsed = None
        with self._lock:
            # Taken under the lock, so arrival times grow in the order requests are handled and the
            # sliding window stays sorted.
            at = self._now()
            status, extra, outcome = self._decide(at, headers, body)
            seq = len(self._records) + 1
            self._records.append(Request(seq, at, path, headers, body, parsed, status, outcome))
        payload = json.dumps({"id": str(seq)} if outcome == ACCEPTED else {"error": outcome}).encode()
        return status, [*extra, ("Content-Type", "application/json")], payload

    def _decide(self, at: float, headers: httpx.Headers, body: bytes) -> tuple[int, list[tuple[str, str]], str]:
        if self._failures:
            status, extra = self._failures.popleft()
            return status, extra, FAILED
        if self.limit is not None:
            count, seconds = self.limit
            while self._passed and self._passed[0] < at - seconds:
                self._passed.popleft()
            if len(self._passed) >= count:
                # The oldest request leaves the window after ``seconds``; at least 1 s, as Retry-After
                # has no fractions and 0 would invite an immediate retry into the same full window.
                wait = max(1, math.ceil(self._passed[0] + seconds - at))
                return 429, [("Retry-After", str(wait))], THROTTLED
            self._passed.append(at)
        if self.secret is not None and not verify(
            self.secret,
            headers.get(TIMESTAMP_HEADER),
            body,
            headers.get(SIGNATURE_HEADER),
            self._clock.now(),
        ):
            return 401, [], REJECTED
        return 200, [], ACCEPTED

    # --- records --------------------------------------------------------------------------------------

    def requests(self) -> list[Request]:
        """Every POST received, whatever the answer, in handling order."""
        with self._lock:
            return list(self._records)

    def accepted(self) -> list[Request]:
        return [record for record in self.requests() if record.outcome == ACCEPTED]

    def bodies(self) -> list[Any]:
        """The parsed bodies of accepted requests."""
        return [record.json for record in self.accepted()]

    def keys(self) -> list[str | None]:
        """The Idempotency-Key of each accepted request."""
        return [record.headers.get("Idempotency-Key") for record in self.accepted()]

    def count(self, outcome: str) -> int:
        with self._lock:
            return sum(1 for record in self._records if record.outcome == outcome)

    @property
    def throttled(self) -> int:
        return self.count(THROTTLED)

    @property
    def rejected(self) -> int:
        return self.count(REJECTED)

    @property
    def failed(self) -> int:
        return self.count(FAILED)

    def max_in_window(self, seconds: float | timedelta) -> int:
        """The largest number of accepted requests whose arrival times fall within one closed window of
        ``seconds`` (both ends included, as memoguard.domain.rate counts): what a sender honouring
        "N per ``seconds``" must keep at or below N."""
        span = seconds.total_seconds() if isinstance(seconds, timedelta) else seconds
        times = sorted(record.at for record in self.accepted())
        best = 0
        for last, end in enumerate(times):
            first = bisect_left(times, end - span)  # the earliest arrival still inside [end - span, end]
            best = max(best, last - first + 1)
        return best

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Poll until at least ``count`` requests have been accepted; False after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.accepted()) >= count:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
