"""A real ``memoguard serve`` in a subprocess on loopback, for end-to-end and crash tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

E2E_FIXTURE = Path(__file__).parents[1] / "fixtures" / "e2e"
ALERTMANAGER = Path(__file__).parents[1] / "fixtures" / "alertmanager"  # captured bodies, see its README

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def eventually(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def e2e_config(tmp_path: Path, database_url: str) -> Path:
    target = tmp_path / "config"
    shutil.copytree(E2E_FIXTURE, target)
    main = target / "memoguard.yaml"
    main.write_text(f"database: {database_url}\n" + main.read_text(encoding="utf-8"), encoding="utf-8")
    return target


def alertmanager_payload(name: str) -> bytes:
    return (ALERTMANAGER / name).read_bytes()


class Service:
    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        """``env``: more environment for the service ($NOTIFY_SOCKET, $WATCHDOG_USEC)."""
        self._tokens: dict[str, str] = {}
        self._env = env or {}
        self.config = config
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = config / "serve.log"

    def start(self) -> None:
        out = self.log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "memoguard",
                "--config",
                str(self.config),
                "serve",
                "--listen",
                f"127.0.0.1:{self.port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self._env},
        )
        out.close()
        eventually(self._ready, 30, f"memoguard serve to be ready (log: {self.log})")

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"memoguard serve exited with {self.process.returncode}:\n{self.log.read_text()}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """kill -9: no shutdown handler runs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def pages(self) -> list[dict[str, Any]]:
        path = self.config / "pages.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def bearer(self, person: str = "alice") -> dict[str, str]:
        """The Authorization header of a personal token of ``person``, made with the CLI on the host."""
        if person not in self._tokens:
            made = self.cli("token", "create", "--as", person, "--name", "e2e")
            assert made.returncode == 0, made.stderr + made.stdout
            self._tokens[person] = made.stdout.strip().splitlines()[-1]
        return {"Authorization": f"Bearer {self._tokens[person]}"}

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "memoguard", "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
