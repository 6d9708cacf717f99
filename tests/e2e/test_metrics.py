"""/metrics scraped from a real ``memoguard serve``: behind its own token on the API's port, and without
one on ``metrics.listen``; the figures follow what the service did (an alarm opened then attached, pages
sent, a timer fired, an acknowledgement through the API)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from memoguard.config.loader import load_config
from tests.e2e.service import Service, e2e_config, eventually, free_port

SCRIPTS = {"Authorization": "Bearer scripts-e2e"}
TOKEN = "metrics-e2e-token"


@pytest.fixture
def with_listen(tmp_path: Path, database_url: str) -> Iterator[tuple[Service, str]]:
    """The service, and its ``metrics.listen`` address."""
    config = e2e_config(tmp_path, database_url)
    (config / "secrets" / "metrics.token").write_text(TOKEN + "\n", encoding="utf-8")
    main = config / "memoguard.yaml"
    listen = f"127.0.0.1:{free_port()}"
    main.write_text(
        main.read_text(encoding="utf-8") + f"metrics: {{token_file: secrets/metrics.token, listen: '{listen}'}}\n",
        encoding="utf-8",
    )
    running = Service(config)
    running.start()
    yield running, listen
    running.stop()


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_are_scraped_with_their_token_or_on_their_own_address(with_listen: tuple[Service, str]) -> None:
    service, listen = with_listen
    url = f"{service.url}/metrics"
    assert httpx.get(url, timeout=5).status_code == 401
    wrong = httpx.get(url, headers={"Authorization": "Bearer scripts-e2e"}, timeout=5)  # a source's token
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"] == "Bearer"

    body = {"dedup_key": "db1", "severity": "critical", "summary": "Disk full on db1"}
    opened = httpx.post(f"{service.url}/api/v1/alarms", json=body, headers=SCRIPTS, timeout=5).json()
    incident = opened["alarms"][0]["incident"]
    httpx.post(f"{service.url}/api/v1/alarms", json=body, headers=SCRIPTS, timeout=5).raise_for_status()
    eventually(lambda: [p for p in service.pages() if p["step"] == 2], 15, "step 2's page (a timer fired)")
    primary = load_config(service.config).roster("ops").oncall(datetime.now(UTC))
    assert primary is not None
    acked = httpx.post(
        f"{service.url}/api/v1/incidents/{incident}/ack", headers=service.bearer(primary.person), timeout=5
    )
    assert acked.status_code == 200, acked.text

    scraped = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert scraped.status_code == 200
    assert scraped.headers["Content-Type"].startswith("text/plain")
    samples = _samples(scraped.text)
    assert _value(samples, "memoguard_alarms_received_total", source="scripts", outcome="opened") == 1
    assert _value(samples, "memoguard_alarms_received_total", source="scripts", outcome="attached") == 1
    assert _value(samples, "memoguard_ingest_group_size_count") == 2
    assert _value(samples, "memoguard_pages_total", channel="sms", provider="console", outcome="sent") >= 2
    assert _value(samples, "memoguard_timer_lateness_seconds_count") >= 1
    assert _value(samples, "memoguard_time_to_acknowledge_seconds_count") == 1
    assert _value(samples, "memoguard_incidents_open", state="acknowledged") == 1
    assert _value(samples, "memoguard_incidents_open", state="triggered") == 0
    assert _value(samples, "memoguard_outbox_depth", provider="console") == 0
    assert _value(samples, "memoguard_outbox_oldest_age_seconds", provider="console") == 0
    assert _value(samples, "memoguard_provider_up", provider="console") == 1
    assert _value(samples, "memoguard_database_up") == 1
    digest = load_config(service.config).digest
    assert _value(samples, "memoguard_config_info", hash=digest) == 1

    own = httpx.get(f"http://{listen}/metrics", timeout=5)
    assert own.status_code == 200  # no token on the address of its own
    assert _value(_samples(own.text), "memoguard_config_info", hash=digest) == 1
