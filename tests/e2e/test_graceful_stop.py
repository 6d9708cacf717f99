"""SIGTERM to a real ``memoguard serve``: alarms refused with 503 and Retry-After, the request under way
answered and committed, the provider call under way finished and recorded, nothing left claimed, exit 0.

Every "under way" is made certain rather than timed: the page is held by the provider's far side (a
loopback HTTP server that answers only when the test says so) and the request is inside its route (an
``Expect: 100-continue`` request gets its ``100 Continue`` only once the route reads the body).
"""

from __future__ import annotations

import json
import signal
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.e2e.service import Service, e2e_config, eventually

SCRIPTS = {"Authorization": "Bearer scripts-e2e"}


class HeldProvider:
    """The far side of a webhook provider that keeps each request until ``release`` is set."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.bodies: list[dict[str, Any]] = []
        held = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                held.bodies.append(body)
                held.arrived.set()
                held.release.wait(60)
                answer = json.dumps({"id": f"held-{body['id']}"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/page"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HeldProvider:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def held() -> Iterator[HeldProvider]:
    with HeldProvider() as provider:
        yield provider


def _alarm(key: str) -> dict[str, Any]:
    return {"dedup_key": key, "severity": "critical", "summary": f"Disk full on {key}"}


def _config(tmp_path: Path, database_url: str, hook: str) -> Path:
    config = e2e_config(tmp_path, database_url)
    main = config / "memoguard.yaml"
    body = main.read_text(encoding="utf-8")
    body = body.replace("  sms: [console]\n", "  sms: [hook]\n")
    body = body.replace("providers:\n", f"providers:\n  hook: {{kind: webhook, url: '{hook}'}}\n")
    main.write_text(body, encoding="utf-8")
    return config


def _begin_alarm(service: Service, alarm: dict[str, Any]) -> tuple[socket.socket, bytes]:
    """Send an alarm's headers only, with ``Expect: 100-continue``, and return once the route reads it."""
    body = json.dumps(alarm).encode()
    connection = socket.create_connection(("127.0.0.1", service.port), timeout=20)
    connection.sendall(
        b"POST /api/v1/alarms HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer scripts-e2e\r\n"
        b"Content-Type: application/json\r\nExpect: 100-continue\r\n" + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    interim = connection.recv(1024)
    assert interim.startswith(b"HTTP/1.1 100 Continue"), interim
    return connection, body


def _answer(connection: socket.socket) -> tuple[int, dict[str, Any]]:
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        chunk = connection.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    return int(head.split()[1]), json.loads(body)


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 1 << 30


def test_sigterm_refuses_alarms_finishes_what_is_under_way_and_exits_0(
    tmp_path: Path, database_url: str, held: HeldProvider
) -> None:
    service = Service(_config(tmp_path, database_url, held.url))
    try:
        service.start()
        opened = httpx.post(f"{service.url}/api/v1/alarms", json=_alarm("db1"), headers=SCRIPTS, timeout=5)
        assert opened.status_code == 200, opened.text
        first = opened.json()["alarms"][0]["incident"]
        assert held.arrived.wait(20), "the page never reached the provider"  # the provider call is under way

        connection, body = _begin_alarm(service, _alarm("db2"))  # a request under way, inside its route
        assert service.process is not None
        service.process.send_signal(signal.SIGTERM)

        def refused() -> httpx.Response | None:
            answer = httpx.post(f"{service.url}/api/v1/alarms", json=_alarm("db3"), headers=SCRIPTS, timeout=5)
            return answer if answer.status_code == 503 else None

        refusal = eventually(refused, 15, "alarms to be refused with 503")
        assert refusal.headers["Retry-After"] == "10"
        assert refusal.json()["detail"][0]["type"] == "stopping"
        ready = httpx.get(f"{service.url}/readyz", timeout=5)
        assert ready.status_code == 503
        assert any(p.startswith("stopping") for p in ready.json()["problems"])
        # Reads and acknowledgements are still served while stopping.
        assert httpx.get(f"{service.url}/healthz", timeout=5).status_code == 200
        assert service.process.poll() is None, "exited with a provider call under way"

        connection.sendall(body)  # the request that began before the stop is answered and committed
        status, answer = _answer(connection)
        connection.close()
        assert status == 200, answer
        assert answer["alarms"][0]["outcome"] == "opened"
        second = answer["alarms"][0]["incident"]

        held.release.set()  # the provider answers: the call is finished and recorded, then the process exits
        assert service.process.wait(30) == 0
    finally:
        service.stop()

    log = service.log.read_text(encoding="utf-8")
    assert "Traceback" not in log, log
    listed = service.cli("incidents", "--json")
    assert listed.returncode == 0, listed.stderr
    summaries = {i["id"]: i["summary"] for i in json.loads(listed.stdout)["incidents"]}
    assert summaries == {first: "Disk full on db1", second: "Disk full on db2"}  # db3 was refused, not stored
    shown = json.loads(service.cli("incident", first, "--json").stdout)
    kinds = [entry["kind"] for entry in shown["timeline"]]
    assert "notified" in kinds, kinds  # the held page was recorded as sent before the exit
    engine = create_engine(_database(service))
    try:
        with engine.connect() as connection_:
            claimed = connection_.execute(text("SELECT count(*) FROM notification WHERE status = 'sending'"))
            assert claimed.scalar_one() == 0  # nothing left claimed
    finally:
        engine.dispose()


def _database(service: Service) -> str:
    first = (service.config / "memoguard.yaml").read_text(encoding="utf-8").splitlines()[0]
    return first.removeprefix("database: ")
