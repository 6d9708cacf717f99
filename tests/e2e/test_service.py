"""The real service end to end: Alertmanager's payload in, pages out through the console provider,
escalation when nobody acknowledges, an ack from the CLI that stops it, then the resolved payload.

These tests wait on real time: the escalation steps of tests/fixtures/e2e last 2 and 8 seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from memoguard.config.loader import load_config
from tests.e2e.service import Service, alertmanager_payload, e2e_config, eventually, free_port

PROMETHEUS = {"Authorization": "Bearer prometheus-e2e", "Content-Type": "application/json"}


@pytest.fixture
def service(tmp_path: Path, database_url: str) -> Iterator[Service]:
    running = Service(e2e_config(tmp_path, database_url))
    running.start()
    yield running
    running.stop()


def _oncall(config: Path) -> tuple[str, str]:
    roster = load_config(config).roster("ops")
    now = datetime.now(UTC)
    primary, secondary = roster.oncall(now), roster.oncall(now, "secondary")
    assert primary is not None and secondary is not None
    return primary.person, secondary.person


def test_alarm_pages_escalates_acks_and_resolves(service: Service) -> None:
    primary, secondary = _oncall(service.config)
    answer = httpx.post(
        f"{service.url}/api/v1/integrations/alertmanager",
        content=alertmanager_payload("firing.json"),
        headers=PROMETHEUS,
    )
    assert answer.status_code == 200, answer.text
    [receipt] = answer.json()["alarms"]
    assert receipt["outcome"] == "opened"
    incident = receipt["incident"]

    first = eventually(lambda: [p for p in service.pages() if p["step"] == 1], 10, "the primary's page")
    assert [p["person"] for p in first] == [primary]
    assert "Disk full on db1" in first[0]["text"]

    second = eventually(lambda: [p for p in service.pages() if p["step"] == 2], 10, "the secondary's page")
    assert [p["person"] for p in second] == [secondary]

    acked = service.cli("ack", incident, "--as", secondary)
    assert acked.returncode == 0, acked.stderr + acked.stdout

    shown = json.loads(service.cli("incident", incident, "--json").stdout)
    assert shown["state"] == "acknowledged"
    assert shown["timers"] == []
    # Step 2 allowed 8 s from its page, which came before the ack: wait 9 s past the ack, then make sure
    # dave was never paged.
    eventually(lambda: _past(shown, 9), 15, "step 2's deadline to pass")
    assert [p["person"] for p in service.pages()] == [primary, secondary]

    resolved = httpx.post(
        f"{service.url}/api/v1/integrations/alertmanager",
        content=alertmanager_payload("resolved.json"),
        headers=PROMETHEUS,
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["alarms"][0] == {"alarm": 2, "outcome": "resolved", "incident": incident}
    final = httpx.get(f"{service.url}/api/v1/incidents/{incident}", headers=service.bearer()).json()
    assert final["state"] == "resolved"
    kinds = [entry["kind"] for entry in final["timeline"]]
    assert kinds.count("paged") == 2
    assert "acknowledged" in kinds and "resolved" in kinds


def _past(shown: dict[str, object], seconds: float) -> bool:
    updated = datetime.fromisoformat(str(shown["updated_at"]))
    return (datetime.now(UTC) - updated).total_seconds() > seconds


def _serve_once(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memoguard", "--config", str(config), "serve", "--listen", f"127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_refuses_a_source_without_its_token(tmp_path: Path, database_url: str) -> None:
    config = e2e_config(tmp_path, database_url)
    (config / "secrets" / "scripts.token").write_text("\n")
    result = _serve_once(config)
    assert result.returncode == 1
    assert "source 'scripts'" in result.stderr and "is empty" in result.stderr


def test_serve_refuses_a_schema_it_does_not_know(tmp_path: Path, database_url: str) -> None:
    config = e2e_config(tmp_path, database_url)
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('9999')"))
    engine.dispose()
    result = _serve_once(config)
    assert result.returncode == 1
    assert "revision 9999" in result.stderr and "newer memoguard" in result.stderr


def test_serve_refuses_a_bad_listen_address(tmp_path: Path, database_url: str) -> None:
    config = e2e_config(tmp_path, database_url)
    result = subprocess.run(
        [sys.executable, "-m", "memoguard", "--config", str(config), "serve", "--listen", "localhost"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "expected HOST:PORT" in result.stderr
