"""The systemd unit and the sd_notify protocol, against a real ``memoguard serve``.

A fake service manager (tests/support/notify.py: a real unix datagram socket bound by the test) is the
service's $NOTIFY_SOCKET. The watchdog's promise is that a stuck engine loop silences it while the HTTP
thread still answers. The loop is blocked deterministically, by what blocks it in real life, a database
lock held by someone else: on PostgreSQL ``LOCK TABLE timer`` (only the timer loop reads that table, so
the dispatcher and the HTTP server go on), on SQLite the write lock (both loops wait for it). A round
that began before the lock was taken may still complete and allow one last ping (engine/watchdog.py);
every round that begins after it blocks, so at most one WATCHDOG=1 can arrive while the lock is held,
however slow or fast the machine.
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.e2e.service import Service, e2e_config
from tests.support.notify import NotifySocket

UNIT = Path(__file__).parents[2] / "systemd" / "memoguard.service"
WATCHDOG_USEC = "2000000"  # WatchdogSec=2s: a ping at most every 0.5 s, from rounds the 1 s sweep wakes
ANALYZE = shutil.which("systemd-analyze")
NO_ANALYZE = "systemd-analyze is not installed here (it comes with the systemd package)"


def _installed_unit(tmp_path: Path) -> Path:
    """The unit with ExecStart/ExecStartPre pointing at this environment's memoguard, since verify checks
    that the commands exist."""
    memoguard = Path(sys.executable).parent / "memoguard"
    assert memoguard.exists(), f"{memoguard}: the memoguard script of this environment (pip install -e .)"
    unit = tmp_path / "memoguard.service"
    unit.write_text(UNIT.read_text(encoding="utf-8").replace("/opt/memoguard/bin/memoguard", str(memoguard)))
    return unit


@pytest.mark.skipif(ANALYZE is None, reason=NO_ANALYZE)
def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    assert ANALYZE is not None
    checked = subprocess.run(
        [ANALYZE, "verify", str(_installed_unit(tmp_path))], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
    assert "memoguard.service" not in checked.stderr, checked.stderr  # no warning about the unit either


@pytest.mark.skipif(ANALYZE is None, reason=NO_ANALYZE)
def test_systemd_analyze_security_rates_the_unit_ok_or_better(tmp_path: Path) -> None:
    assert ANALYZE is not None
    if "--offline" not in subprocess.run([ANALYZE, "--help"], capture_output=True, text=True, check=False).stdout:
        pytest.skip("this systemd-analyze cannot review a unit file offline (--offline came with systemd 250)")
    rated = subprocess.run(
        [ANALYZE, "security", "--offline=true", "--no-pager", str(_installed_unit(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    verdict = next(line for line in (rated.stdout + rated.stderr).splitlines() if "Overall exposure level" in line)
    level, label = verdict.split(":")[1].split()[:2]
    assert label in {"OK", "SAFE", "PERFECT"}, verdict
    assert float(level) < 2.0, verdict  # 1.2 when written; a change that weakens the unit shows here


def test_the_unit_asks_for_what_the_service_does() -> None:
    settings = [line.strip() for line in UNIT.read_text(encoding="utf-8").splitlines()]
    for wanted in (
        "Type=notify",
        "WatchdogSec=30s",
        "Restart=always",
        "TimeoutStopSec=30s",
        "User=memoguard",
        "StateDirectory=memoguard",
        "ConfigurationDirectory=memoguard",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "SystemCallFilter=@system-service",
        "ExecStartPre=/opt/memoguard/bin/memoguard check --days 1",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ):
        assert wanted in settings, wanted
    assert any(line.startswith("LoadCredential=") for line in settings)


@contextmanager
def timer_loop_blocked(database_url: str) -> Iterator[None]:
    """Hold the lock the timer loop needs first in every round (see the module docstring)."""
    if database_url.startswith("sqlite"):
        held = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            held.execute("BEGIN IMMEDIATE")
            yield
            held.execute("ROLLBACK")
        finally:
            held.close()
        return
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            transaction = connection.begin()
            connection.execute(text("LOCK TABLE timer IN ACCESS EXCLUSIVE MODE"))
            yield
            transaction.rollback()
    finally:
        engine.dispose()


def test_ready_then_watchdog_from_the_loops_silent_while_the_timer_loop_is_stuck_then_stopping(
    tmp_path: Path, database_url: str
) -> None:
    with NotifySocket() as manager:
        service = Service(
            e2e_config(tmp_path, database_url), env={"NOTIFY_SOCKET": manager.address, "WATCHDOG_USEC": WATCHDOG_USEC}
        )
        try:
            service.start()
            ready = manager.wait_for("READY=1", 30)
            assert any(line.startswith("STATUS=serving on 127.0.0.1:") for line in ready)
            # READY=1 means it: the port listens and the engine loops run.
            assert httpx.get(f"{service.url}/readyz", timeout=5).status_code == 200

            for _ in range(3):
                manager.wait_for("WATCHDOG=1", 10)

            with timer_loop_blocked(database_url):
                held = manager.drain(4.0)  # twice WatchdogSec: systemd would have restarted it by now
                # The HTTP thread is alive all along: it must not be what keeps the watchdog quiet.
                assert httpx.get(f"{service.url}/healthz", timeout=5).status_code == 200
            assert sum("WATCHDOG=1" in lines for lines in held) <= 1, held

            manager.wait_for("WATCHDOG=1", 15)  # the lock released, the loops come round again

            assert service.process is not None
            service.process.send_signal(signal.SIGTERM)
            stopping = manager.wait_for("STOPPING=1", 15)
            assert any(line.startswith("STATUS=stopping") for line in stopping)
            assert service.process.wait(30) == 0
        finally:
            service.stop()
