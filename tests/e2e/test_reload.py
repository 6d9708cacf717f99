"""Reloading a real ``memoguard serve``'s configuration: ``memoguard reload`` and SIGHUP.

A valid configuration applies to new incidents (an open one keeps the policy it copied) and people's
contacts to the next page, even of an incident opened before; an invalid one is refused whole, every
problem in the log, and the running one stays (its hash on /readyz); a change that needs a restart is
refused by name. Pages go to a loopback webhook receiver (tests/support/receiver.py), whose bodies carry
the person's phone number as the dispatcher read it at the send.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from memoguard.config.loader import load_config
from tests.e2e.service import Service, e2e_config, eventually
from tests.support.receiver import Receiver

SCRIPTS = {"Authorization": "Bearer scripts-e2e"}
# Steps long enough that only the test moves an incident on (``memoguard escalate``).
SLOW = (
    "name: fast\n"
    "steps:\n"
    '  - {notify: ["roster:ops"], channels: [sms], ack_within: 10m}\n'
    '  - {notify: ["roster:ops/secondary"], channels: [sms], ack_within: 10m}\n'
)
TO_DAVE = 'name: fast\nsteps:\n  - {notify: ["person:dave"], channels: [sms], ack_within: 10m}\n'


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def service(tmp_path: Path, database_url: str, receiver: Receiver) -> Iterator[Service]:
    config = e2e_config(tmp_path, database_url)
    main = config / "memoguard.yaml"
    text = main.read_text(encoding="utf-8").replace("  sms: [console]\n", "  sms: [hook]\n")
    main.write_text(text.replace("providers:\n", f"providers:\n  hook: {{kind: webhook, url: '{receiver.url}'}}\n"))
    (config / "escalation_policies" / "fast.yaml").write_text(SLOW, encoding="utf-8")
    running = Service(config)
    running.start()
    yield running
    running.stop()


def _alarm(service: Service, key: str) -> str:
    body = {"dedup_key": key, "severity": "critical", "summary": f"Disk full on {key}"}
    answer = httpx.post(f"{service.url}/api/v1/alarms", json=body, headers=SCRIPTS, timeout=5)
    assert answer.status_code == 200, answer.text
    incident = answer.json()["alarms"][0]["incident"]
    assert isinstance(incident, str)
    return incident


def _pages(receiver: Receiver, incident: str, step: int) -> list[dict[str, Any]]:
    return [b for b in receiver.bodies() if b.get("incident") == incident and b.get("step") == step]


def _logged(service: Service, text: str) -> str | None:
    """The service's log once it holds ``text``."""
    log = service.log.read_text(encoding="utf-8")
    return log if text in log else None


def _hash(service: Service) -> str:
    digest: str = httpx.get(f"{service.url}/readyz", timeout=5).json()["config_hash"]
    return digest


def test_reload_applies_to_new_incidents_and_next_pages_and_refuses_what_is_wrong(
    service: Service, receiver: Receiver
) -> None:
    config = service.config
    started = _hash(service)
    assert started == load_config(config).digest
    first = _alarm(service, "db1")
    [page] = eventually(lambda: _pages(receiver, first, 1), 15, "the first incident's page")
    secondary = load_config(config).roster("ops").oncall(datetime.now(UTC), "secondary")
    assert secondary is not None
    old_phone = load_config(config).people[secondary.person].phone

    # A valid change: new incidents page dave; the secondary has a new number.
    (config / "escalation_policies" / "fast.yaml").write_text(TO_DAVE, encoding="utf-8")
    main = config / "memoguard.yaml"
    assert old_phone is not None
    main.write_text(main.read_text(encoding="utf-8").replace(old_phone, "+33612345699"), encoding="utf-8")
    reloaded = service.cli("reload", "--url", service.url)
    assert reloaded.returncode == 0, reloaded.stderr + reloaded.stdout
    new_hash = load_config(config).digest
    assert f"reloaded: configuration {new_hash[:12]} in force" in reloaded.stdout
    assert _hash(service) == new_hash != started

    second = _alarm(service, "db2")
    [paged] = eventually(lambda: _pages(receiver, second, 1), 15, "the new incident's page")
    assert paged["person"]["name"] == "dave"  # the new policy
    escalated = service.cli("escalate", first, "--as", page["person"]["name"])
    assert escalated.returncode == 0, escalated.stderr
    [next_page] = eventually(lambda: _pages(receiver, first, 2), 15, "the open incident's step 2")
    assert next_page["person"]["name"] == secondary.person  # its own copy of the old policy
    assert next_page["person"]["phone"] == "+33612345699"  # the contact as it is now

    # An invalid configuration: `reload` prints every problem and signals nothing.
    good = main.read_text(encoding="utf-8")
    main.write_text(
        good.replace("  - {policy: fast}", "  - {policy: nowhere}").replace("+33612345699", "not a phone"),
        encoding="utf-8",
    )
    refused = service.cli("reload", "--url", service.url)
    assert refused.returncode == 1
    assert "nowhere" in refused.stderr and "not a phone" in refused.stderr, refused.stderr
    assert "2 problems found; nothing was loaded" in refused.stderr
    # SIGHUP anyway (systemctl reload): the service refuses it, logs each problem, keeps the running one.
    assert service.process is not None
    service.process.send_signal(signal.SIGHUP)
    log = eventually(lambda: _logged(service, "reload refused"), 15, "the refusal")
    assert "reload refused (2 problems)" in log
    assert sum("reload: " in line and ("nowhere" in line or "not a phone" in line) for line in log.splitlines()) == 2
    assert _hash(service) == new_hash
    assert _alarm(service, "db3")  # still taking alarms, under the configuration in force

    # A change only a restart applies: refused by name.
    main.write_text(good.replace("providers:\n", "providers:\n  spare: {kind: console}\n"), encoding="utf-8")
    service.process.send_signal(signal.SIGHUP)
    eventually(lambda: _logged(service, "providers changed: a restart applies it"), 15, "the refusal by name")
    assert _hash(service) == new_hash

    main.write_text(good, encoding="utf-8")  # back to the one in force: a reload of it is accepted
    again = service.cli("reload", "--url", service.url)
    assert again.returncode == 0, again.stderr


def test_a_recurring_window_deleted_by_a_reload_releases_what_it_held(
    tmp_path: Path, database_url: str, receiver: Receiver
) -> None:
    # Issue 17: its incidents waited, silenced, for the old window's end. A window around the real now
    # (Europe/Paris wall clock; an end before the start ends the next day).
    config = e2e_config(tmp_path, database_url)
    main = config / "memoguard.yaml"
    text = main.read_text(encoding="utf-8").replace("  sms: [console]\n", "  sms: [hook]\n")
    text = text.replace("providers:\n", f"providers:\n  hook: {{kind: webhook, url: '{receiver.url}'}}\n")
    main.write_text(text, encoding="utf-8")
    (config / "escalation_policies" / "fast.yaml").write_text(SLOW, encoding="utf-8")
    local = datetime.now(ZoneInfo("Europe/Paris"))
    start, end = local - timedelta(hours=2), local + timedelta(hours=2)
    window = (
        "silences:\n  - name: patching\n"
        f'    every: "day {start:%H:%M}-{end:%H:%M}"\n'
        "    match: {severity: critical}\n    comment: patching\n"
    )
    main.write_text(text + window, encoding="utf-8")
    service = Service(config)
    service.start()
    try:
        held = _alarm(service, "db1")
        shown = httpx.get(f"{service.url}/api/v1/incidents/{held}", headers=service.bearer(), timeout=5).json()
        assert shown["state"] == "silenced"
        main.write_text(text, encoding="utf-8")
        reloaded = service.cli("reload", "--url", service.url)
        assert reloaded.returncode == 0, reloaded.stderr + reloaded.stdout
        eventually(lambda: _pages(receiver, held, 1), 15, "the held incident's page after the reload")
        log = eventually(lambda: _logged(service, "no window holds any more"), 15, "the release")
        assert "released 1 silenced incident(s) no window holds any more" in log
    finally:
        service.stop()
