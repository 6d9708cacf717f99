"""The server skeleton that the fake vendor REST APIs (Opsgenie, Grafana OnCall, PagerDuty) share.

Each fake serves JSON GETs on loopback from a directory of saved answers, records every request path, and
says in two methods what makes it that vendor: ``refuse`` (the authentication and header checks, an error
answer or None) and ``answer`` (the routes and paging). ``http.server``'s threading server listens on
entering and stops on leaving.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, dict[str, Any]]


class FakeVendorAPI:
    def __init__(self, key: str, page_size: int, directory: Path) -> None:
        self.key = key
        self.page_size = page_size
        self.directory = directory
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def refuse(self, headers: Any) -> Answer | None:
        """The vendor's answer to a request its headers do not allow (401, 406), or None."""
        raise NotImplementedError

    def answer(self, path: str, query: dict[str, list[str]]) -> Answer:
        raise NotImplementedError

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests.append(self.path)
                split = urlsplit(self.path)
                refused = fake.refuse(self.headers)
                status, body = refused or fake.answer(split.path, parse_qs(split.query))
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
