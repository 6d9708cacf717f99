"""Two ``memoguard serve`` processes on one PostgreSQL database share a provider's rate limit: 2,000
pages behind a webhook limited to 100/s arrive exactly once and never more than 100 within any second,
as the receiving server measures them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.e2e.service import Service, e2e_config
from tests.support.receiver import Receiver

INCIDENTS = 2000
PER_PAYLOAD = 100
PROMETHEUS = {"Authorization": "Bearer prometheus-e2e"}


def _payload(batch: int) -> dict[str, object]:
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": "Flood", "instance": f"host-{batch}-{i}", "severity": "critical"},
            "annotations": {"summary": f"flood {batch}-{i}"},
            "startsAt": "2026-11-21T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.local/graph",
            "fingerprint": f"flood-{batch}-{i}",
        }
        for i in range(PER_PAYLOAD)
    ]
    return {
        "version": "4",
        "groupKey": f'{{}}:{{batch="{batch}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "memoguard",
        "groupLabels": {},
        "commonLabels": {"alertname": "Flood"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.local",
        "alerts": alerts,
    }


def _config(tmp_path: Path, database_url: str, receiver: Receiver) -> Path:
    config = e2e_config(tmp_path, database_url)
    main = config / "memoguard.yaml"
    text = main.read_text(encoding="utf-8")
    text = text.replace("  sms: [console]\n", "  sms: [hook]\n")
    hook = f"  hook: {{kind: webhook, url: '{receiver.url}', rate: ['100/s']}}\n"
    text = text.replace("  console: {kind: console, file: pages.jsonl}\n", f"  console: {{kind: console}}\n{hook}")
    main.write_text(text, encoding="utf-8")
    # Nobody acknowledges in this test: steps long enough that only the first page of each incident goes.
    (config / "escalation_policies" / "fast.yaml").write_text(
        "name: fast\nsteps:\n  - {notify: ['roster:ops'], channels: [sms], ack_within: 1h}\n", encoding="utf-8"
    )
    return config


@pytest.mark.slow
def test_two_instances_share_one_rate_limit(tmp_path: Path, database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("several instances share a PostgreSQL database; SQLite serves one process")
    with Receiver(limit=(100, 1.0)) as receiver:
        config = _config(tmp_path, database_url, receiver)
        first, second = Service(config), Service(config)
        first.start()
        second.start()
        try:
            with httpx.Client(timeout=60) as client:
                for batch in range(INCIDENTS // PER_PAYLOAD):
                    target = first if batch % 2 == 0 else second
                    answer = client.post(
                        f"{target.url}/api/v1/integrations/alertmanager", json=_payload(batch), headers=PROMETHEUS
                    )
                    assert answer.status_code == 200, answer.text
            # 2,000 pages at 100/s take 20 s; allow for a slow machine, not for a lost page.
            assert receiver.wait_for(INCIDENTS, timeout=90), f"only {len(receiver.accepted())} pages arrived"
        finally:
            first.stop()
            second.stop()
        keys = Counter(receiver.keys())
        assert len(keys) == INCIDENTS
        assert max(keys.values()) == 1, "a page arrived twice"
        assert receiver.throttled == 0
        assert receiver.max_in_window(1.0) <= 100
    logs = [s.log.read_text(encoding="utf-8") for s in (first, second)]
    assert all("Traceback" not in log for log in logs), "a service logged a crash"
