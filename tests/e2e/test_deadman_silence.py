"""Heartbeats and maintenance windows through a real ``memoguard serve`` (tests/e2e/service.py).

These tests wait on real time: the ``cron`` heartbeat added here pings every 2 s with 1 s of grace, and
the silence lasts 15 s. The e2e fixture's sources are left as they are for the other tests: ``cron`` is
added to this test's copy only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.service import Service, alertmanager_payload, e2e_config, eventually

PROMETHEUS = {"Authorization": "Bearer prometheus-e2e", "Content-Type": "application/json"}
CRON = {"Authorization": "Bearer cron-e2e"}


@pytest.fixture
def service(tmp_path: Path, database_url: str) -> Iterator[Service]:
    config = e2e_config(tmp_path, database_url)
    (config / "secrets" / "cron.token").write_text("cron-e2e\n", encoding="utf-8")
    main = config / "memoguard.yaml"
    text = main.read_text(encoding="utf-8").replace(
        "sources:\n", "sources:\n  cron: {kind: heartbeat, token_file: secrets/cron.token, heartbeat: 2s, grace: 1s}\n"
    )
    main.write_text(text, encoding="utf-8")
    running = Service(config)
    running.start()
    yield running
    running.stop()


def test_a_missed_heartbeat_pages_and_the_next_ping_resolves(service: Service) -> None:
    ping = httpx.post(f"{service.url}/api/v1/heartbeats/cron", headers=CRON)
    assert ping.status_code == 200, ping.text
    assert ping.json()["heartbeat"]["state"] == "up"

    paged = eventually(lambda: [p for p in service.pages() if "heartbeat cron missed" in p["text"]], 15, "the miss")
    assert "no ping since" in paged[0]["text"]
    shown = json.loads(service.cli("heartbeats", "--json").stdout)["heartbeats"]
    (cron,) = [h for h in shown if h["name"] == "cron"]
    assert cron["state"] == "missed" and cron["incident"] is not None

    again = httpx.post(f"{service.url}/api/v1/heartbeats/cron", headers=CRON)
    assert again.status_code == 200 and again.json()["resolved"] == cron["incident"]
    final = httpx.get(f"{service.url}/api/v1/incidents/{cron['incident']}", headers=service.bearer()).json()
    assert final["state"] == "resolved"


def test_a_silenced_alarm_pages_only_once_its_window_ended(service: Service) -> None:
    reader = service.bearer()  # made first: the CLI takes seconds on a busy machine
    added = service.cli("silence", "add", "--match", "service=db", "--for", "15s", "--comment", "e2e maintenance")
    assert added.returncode == 0, added.stderr + added.stdout
    answer = httpx.post(
        f"{service.url}/api/v1/integrations/alertmanager",
        content=alertmanager_payload("firing.json"),
        headers=PROMETHEUS,
    )
    assert answer.status_code == 200, answer.text
    [receipt] = answer.json()["alarms"]
    assert receipt["outcome"] == "silenced"
    incident = receipt["incident"]
    assert not [p for p in service.pages() if "Disk full on db1" in p["text"]]
    shown = httpx.get(f"{service.url}/api/v1/incidents/{incident}", headers=reader).json()
    assert shown["state"] == "silenced" or "silence_ended" in [entry["kind"] for entry in shown["timeline"]]

    eventually(lambda: [p for p in service.pages() if "Disk full on db1" in p["text"]], 30, "the page after the window")
    shown = httpx.get(f"{service.url}/api/v1/incidents/{incident}", headers=reader).json()
    kinds = [entry["kind"] for entry in shown["timeline"]]
    assert kinds.index("silenced") < kinds.index("silence_ended") < kinds.index("paged")
    assert any("held by silence 1 (e2e maintenance)" in entry["text"] for entry in shown["timeline"])
