"""Severities per source kind (domain/severity.py) and a source's severity_map in memoguard.yaml: the
defaults, the overrides, and a map naming what does not exist refused with the location and the words."""

from __future__ import annotations

from pathlib import Path

import pytest

from memoguard.config.loader import load_config
from memoguard.config.problem import ConfigError
from memoguard.domain.severity import SEVERITIES, ZABBIX_LEVELS, check_map, defaults, severity


@pytest.mark.parametrize(
    ("kind", "native", "expected"),
    [
        ("zabbix", "disaster", "critical"),
        ("zabbix", "high", "high"),
        ("zabbix", "average", "high"),
        ("zabbix", "warning", "warning"),
        ("zabbix", "information", "info"),
        ("zabbix", "not_classified", "warning"),
        ("pagerduty", "critical", "critical"),
        ("pagerduty", "error", "high"),
        ("pagerduty", "warning", "warning"),
        ("pagerduty", "info", "info"),
        ("opsgenie", "P1", "critical"),
        ("opsgenie", "P4", "low"),
        ("alertmanager", "Critical", "critical"),
        ("alertmanager", "warn", "warning"),
        ("grafana", "error", "high"),
        ("grafana", "page", "page"),  # a team's own word passes through, as it always did
        ("generic", "critical", "critical"),
        ("generic", "sev1", "sev1"),
    ],
)
def test_each_kind_maps_its_scale(kind: str, native: str, expected: str) -> None:
    assert severity(kind, native) == expected


def test_every_closed_scale_maps_onto_memoguard_s_severities() -> None:
    for kind in ("zabbix", "pagerduty", "opsgenie", "alertmanager", "grafana", "generic"):
        assert set(defaults(kind).values()) <= set(SEVERITIES), kind
    assert set(defaults("zabbix")) == set(ZABBIX_LEVELS)


def test_an_override_wins_over_the_default() -> None:
    assert severity("zabbix", "average", {"average": "warning"}) == "warning"
    assert severity("zabbix", "disaster", {"average": "warning"}) == "critical"
    assert severity("grafana", "page", {"page": "critical"}) == "critical"


def test_check_map_names_an_unknown_level_and_an_unknown_severity() -> None:
    assert check_map("zabbix", {"disaster": "critical"}) == []
    assert check_map("grafana", {"page": "critical"}) == []  # free text: any key
    (level,) = check_map("pagerduty", {"fatal": "critical"})
    assert "pagerduty has no severity 'fatal'" in level and "critical, error, warning, info" in level
    (value,) = check_map("zabbix", {"disaster": "urgent"})
    assert "'urgent' is not a memoguard severity" in value and "critical, high, warning, low, info" in value


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("{kind: zabbix, token_env: T, severity_map: {dissaster: critical}}", ["sources.z", "no severity 'dissaster'"]),
        ("{kind: pagerduty, token_env: T, severity_map: {error: sev2}}", ["sources.z", "'sev2' is not a memoguard"]),
        ("{kind: opsgenie, token_env: T, severity_map: {P6: info}}", ["sources.z", "opsgenie has no severity 'P6'"]),
        ("{kind: grafana, token_env: T, severity_map: {page: [critical]}}", ["sources.z.severity_map.page"]),
        ("{kind: nagios, token_env: T}", ["sources.z.kind", "grafana", "zabbix", "pagerduty"]),
    ],
)
def test_a_bad_severity_map_is_a_config_error(tmp_path: Path, source: str, words: list[str]) -> None:
    (tmp_path / "memoguard.yaml").write_text(f"sources:\n  z: {source}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    said = str(caught.value)
    for word in words:
        assert word in said, said


def test_a_severity_map_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "people:\n  alice: {phone: '+33 6 12 34 56 78'}\n"
    text += "sources:\n  z: {kind: zabbix, token_env: T, severity_map: {not_classified: info, average: warning}}\n"
    (tmp_path / "memoguard.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("T", "zabbix-token")
    assert load_config(tmp_path).sources["z"].severity_map == {"not_classified": "info", "average": "warning"}
