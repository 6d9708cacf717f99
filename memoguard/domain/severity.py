"""Severities: each monitoring tool's own scale, mapped onto memoguard's, so that one route
(``match: {severity: critical}``) catches a Zabbix disaster, a PagerDuty critical and a Grafana alert
labelled ``severity: critical`` alike.

memoguard's scale is the five words Opsgenie's P1–P5 already mapped to: critical, high, warning, low, info.
A kind whose tool has a closed scale (Zabbix's six levels, PagerDuty's four, Opsgenie's five priorities)
maps each of its levels; a kind whose severity is free text (the ``severity`` label of Alertmanager and
Grafana, the generic JSON's field) maps the usual spellings and passes any other value through unchanged,
as memoguard always did, so that routes written against a team's own words (``severity: page``) still
match. A source's ``severity_map`` in memoguard.yaml overrides entries of its kind's defaults.

Decisions: Zabbix's Warning stays warning and High stays high (the same word must not change meaning on the
way in), so Disaster is critical and Average, between Warning and High, is high; Not classified is warning,
memoguard's default for an alarm that says nothing, rather than a level that could hide it. PagerDuty's
error is high.
"""

from __future__ import annotations

from collections.abc import Mapping

SEVERITIES = ("critical", "high", "warning", "low", "info")
DEFAULT = "warning"  # an alarm that names no severity

_COMMON = {s: s for s in SEVERITIES}
_LABEL = _COMMON | {
    "error": "high",
    "major": "high",
    "warn": "warning",
    "minor": "low",
    "information": "info",
    "informational": "info",
    "none": "info",
}

# Per source kind: its defaults, and whether its scale is closed (a severity_map may only name its levels).
_DEFAULTS: dict[str, tuple[Mapping[str, str], bool]] = {
    "generic": (_COMMON, False),
    "alertmanager": (_LABEL, False),
    "grafana": (_LABEL, False),
    "opsgenie": ({"P1": "critical", "P2": "high", "P3": "warning", "P4": "low", "P5": "info"}, True),
    "pagerduty": ({"critical": "critical", "error": "high", "warning": "warning", "info": "info"}, True),
    "zabbix": (
        {
            "disaster": "critical",
            "high": "high",
            "average": "high",
            "warning": "warning",
            "information": "info",
            "not_classified": "warning",
        },
        True,
    ),
}

# Zabbix sends its severity as a number ({EVENT.NSEVERITY}, contrib/zabbix/): 0 not classified … 5 disaster.
ZABBIX_LEVELS = ("not_classified", "information", "warning", "average", "high", "disaster")


def defaults(kind: str) -> Mapping[str, str]:
    """The default mapping of a source kind (empty for a kind with none)."""
    return _DEFAULTS.get(kind, ({}, False))[0]


def closed(kind: str) -> bool:
    """Whether ``kind``'s tool has a closed scale: then a severity_map may name only its levels."""
    return _DEFAULTS.get(kind, ({}, False))[1]


def check_map(kind: str, overrides: Mapping[str, str]) -> list[str]:
    """What is wrong with a source's ``severity_map``, in words (empty when nothing is)."""
    problems = []
    native = defaults(kind)
    for name, severity in overrides.items():
        if closed(kind) and name not in native:
            problems.append(f"{kind} has no severity {name!r} (its severities: {', '.join(native)})")
        if severity not in SEVERITIES:
            problems.append(f"{name}: {severity!r} is not a memoguard severity ({', '.join(SEVERITIES)})")
    return problems


def severity(kind: str, native: str, overrides: Mapping[str, str] | None = None) -> str:
    """memoguard's severity for ``native``, a severity as ``kind``'s tool says it. Looked up as sent,
    then in lower case; a value no mapping names is kept as sent."""
    for table in (overrides or {}, defaults(kind)):
        found = table.get(native)
        if found is None:
            found = table.get(native.lower())
        if found is not None:
            return found
    return native
