"""The Prometheus exposition's names, and the example alerting rules (contrib/prometheus) naming only
metrics memoguard exports: a renamed metric must not leave a rule that silently never fires."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from memoguard.adapters.metrics import PrometheusMetrics
from memoguard.services.metrics import Gauges, Outbox

RULES = Path(__file__).parents[2] / "contrib" / "prometheus" / "memoguard-alerts.yml"


def _exported() -> set[str]:
    gauges = Gauges({"triggered": 1}, {"console": Outbox(2, 3.5)}, {"console": True})
    metrics = PrometheusMetrics(lambda: gauges)
    metrics.config_hash = "abc"
    metrics.alarm("scripts", "opened")
    metrics.page("sms", "console", "sent")
    metrics.group(3)
    metrics.acknowledged(42.0)
    metrics.timer_late(0.2)
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    return {s.name for f in text_string_to_metric_families(body.decode()) for s in f.samples}


def test_every_rule_names_only_exported_metrics() -> None:
    exported = _exported()
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"][0]["rules"]
    assert len(rules) >= 5
    for rule in rules:
        for name in re.findall(r"\bmemoguard_[a-z_]+", rule["expr"]):
            assert name in exported, f"rule {rule['alert']} names {name}, which memoguard does not export"


def test_a_scrape_whose_database_read_fails_still_answers_with_the_counters() -> None:
    def broken() -> Gauges:
        raise OSError("database gone")

    metrics = PrometheusMetrics(broken)
    metrics.alarm("scripts", "opened")
    body = metrics.exposition()[0].decode()
    assert "memoguard_database_up 0.0" in body
    assert 'memoguard_alarms_received_total{outcome="opened",source="scripts"} 1.0' in body
