"""SMS both ways end to end: a real ``memoguard serve`` bound to the test SMSC (smpp34, in this process).

An alarm comes in over HTTP, the page reaches the SMSC as a submit_sm to the primary's number, the
SMSC's delivery receipt lands on the timeline, the primary's reply "1a" (a mobile-originated deliver_sm)
acknowledges the incident and brings back a confirmation SMS, and nobody else is paged. A reply from a
number that was not paged changes nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from memoguard.config.loader import load_config
from tests.e2e.service import Service, e2e_config, eventually
from tests.support.smsc import Smsc, Submit, whole_text

SCRIPTS = {"Authorization": "Bearer scripts-e2e"}
POLICIES = {
    "sms.yaml": (
        "name: sms\n"
        "steps:\n"
        '  - {notify: ["roster:ops"], channels: [sms], ack_within: 5m}\n'
        '  - {notify: ["roster:ops/secondary"], channels: [sms], ack_within: 5m}\n'
    ),
    "sms-double.yaml": (
        "name: sms-double\n"
        "acknowledgement: {mode: double, confirm_within: 10m}\n"
        "steps:\n"
        '  - {notify: ["roster:ops"], channels: [sms], ack_within: 5m}\n'
        '  - {notify: ["roster:ops/secondary"], channels: [sms], ack_within: 5m}\n'
    ),
}


@pytest.fixture
def smsc() -> Iterator[Smsc]:
    with Smsc(password="e2e-pass") as running:
        yield running


@pytest.fixture
def service(tmp_path: Path, database_url: str, smsc: Smsc) -> Iterator[Service]:
    config = e2e_config(tmp_path, database_url)
    main = config / "memoguard.yaml"
    text = main.read_text(encoding="utf-8")
    text = text.replace(
        "  - {policy: fast}\n", "  - {match: {labels: {ack: double}}, policy: sms-double}\n  - {policy: sms}\n"
    )
    text = text.replace(
        "  console: {kind: console, file: pages.jsonl}\n",
        f"  smsc: {{kind: smpp, host: 127.0.0.1, port: {smsc.port}, system_id: memoguard,"
        " password_file: secrets/smpp.password, source: MEMOGUARD}\n",
    )
    main.write_text(text.replace("  sms: [console]\n", "  sms: [smsc]\n"), encoding="utf-8")
    (config / "secrets" / "smpp.password").write_text("e2e-pass\n", encoding="utf-8")
    (config / "escalation_policies" / "fast.yaml").unlink()
    for name, body in POLICIES.items():
        (config / "escalation_policies" / name).write_text(body, encoding="utf-8")
    running = Service(config)
    running.start()
    yield running
    running.stop()
    shutil.rmtree(config / "secrets", ignore_errors=True)


def _people(config: Path) -> dict[str, str]:
    """Who is primary and secondary now, and each person's number as the SMSC sees it (no "+")."""
    loaded = load_config(config)
    roster = loaded.roster("ops")
    now = datetime.now(UTC)
    primary, secondary = roster.oncall(now), roster.oncall(now, "secondary")
    assert primary is not None and secondary is not None
    phones = {name: (person.phone or "").lstrip("+") for name, person in loaded.people.items()}
    return {
        "primary": primary.person,
        "secondary": secondary.person,
        "primary_phone": phones[primary.person],
        "secondary_phone": phones[secondary.person],
        "language": loaded.people[primary.person].language,
    }


def _alarm(service: Service, key: str, labels: dict[str, str] | None = None) -> str:
    body = {"dedup_key": key, "severity": "critical", "summary": f"Disk full on {key}", "labels": labels or {}}
    answer = httpx.post(f"{service.url}/api/v1/alarms", json=body, headers=SCRIPTS, timeout=5)
    assert answer.status_code == 200, answer.text
    incident = answer.json()["alarms"][0]["incident"]
    assert isinstance(incident, str)
    return incident


def _incident(service: Service, incident: str) -> dict[str, Any]:
    url = f"{service.url}/api/v1/incidents/{incident}"
    shown: dict[str, Any] = httpx.get(
        url, headers=service.bearer(next(iter(load_config(service.config).people))), timeout=5
    ).json()
    return shown


def _entries(service: Service, incident: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in _incident(service, incident)["timeline"] if e["kind"] == kind]


def _messages(smsc: Smsc, phone: str) -> list[list[Submit]]:
    """The SMS to ``phone`` as whole messages: the parts of a long one together."""
    messages: dict[object, list[Submit]] = {}
    for submit in smsc.submits:
        if submit.destination_addr == phone:
            key = submit.number if submit.concat is None else ("long", submit.concat.reference)
            messages.setdefault(key, []).append(submit)
    return [m for m in messages.values() if m[0].concat is None or len(m) == m[0].concat.total]


def _to(smsc: Smsc, phone: str, count: int) -> list[list[Submit]]:
    def arrived() -> list[list[Submit]] | None:
        found = _messages(smsc, phone)
        return found[:count] if len(found) >= count else None

    return eventually(arrived, 15, f"{count} SMS to {phone}")


def test_a_page_by_sms_is_acknowledged_by_an_sms_reply(service: Service, smsc: Smsc) -> None:
    who = _people(service.config)
    incident = _alarm(service, "db1")

    [parts] = _to(smsc, who["primary_phone"], 1)
    page = parts[0]
    assert (page.source_addr, page.source_addr_ton, page.dest_addr_ton) == ("MEMOGUARD", 5, 1)
    assert page.registered_delivery == 1
    reply_hint = "Répondez 1a pour acquitter." if who["language"] == "fr" else "Reply 1a to acknowledge."
    assert whole_text(parts).startswith(f"memoguard #{incident} critical")
    assert whole_text(parts).endswith(reply_hint)
    assert page.message_id is not None

    assert smsc.receipt(page.message_id, "DELIVRD") == 0
    [receipt] = eventually(lambda: _entries(service, incident, "delivery_receipt"), 10, "the receipt on the timeline")
    assert "delivered (DELIVRD)" in receipt["text"]

    assert smsc.deliver("1a", sender=who["secondary_phone"]) == [0]  # not paged yet: changes nothing
    assert smsc.deliver("1a", sender=who["primary_phone"]) == [0]

    shown = eventually(
        lambda: (s := _incident(service, incident))["state"] == "acknowledged" and s, 10, "the ack by SMS"
    )
    assert shown["acknowledged_by"] == [who["primary"]]
    [_, answer] = _to(smsc, who["primary_phone"], 2)
    done = "acquitté" if who["language"] == "fr" else "acknowledged"
    assert whole_text(answer).startswith(f"memoguard #{incident} {done}.")
    replies = [e["text"] for e in _entries(service, incident, "sms_reply")]
    assert replies == [f"SMS reply from {who['primary']} (+{who['primary_phone']}) via smsc: '1a'"]
    assert shown["timers"] == []  # the escalation stopped: the secondary will not be paged
    assert {s.destination_addr for s in smsc.submits} == {who["primary_phone"]}


def test_double_acknowledgement_by_sms(service: Service, smsc: Smsc) -> None:
    who = _people(service.config)
    incident = _alarm(service, "db2", {"ack": "double"})
    [page] = _to(smsc, who["primary_phone"], 1)
    assert "1c" in whole_text(page)  # the page says how to confirm

    smsc.deliver("1a", sender=who["primary_phone"])
    eventually(lambda: _incident(service, incident)["state"] == "acknowledged", 10, "the ack by SMS")
    smsc.deliver("1C", sender=who["primary_phone"])
    shown = eventually(
        lambda: (s := _incident(service, incident))["state"] == "confirmed" and s, 10, "the confirmation by SMS"
    )
    assert shown["confirmed_by"] == [who["primary"]]
    texts = [whole_text(m) for m in _to(smsc, who["primary_phone"], 3)]
    assert texts[2].startswith(f"memoguard #{incident} confirm")  # confirmé / confirmed


class _Answering(Service):
    """A service counted as started once it answers /readyz at all (it will say it is not ready)."""

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"memoguard serve exited with {self.process.returncode}:\n{self.log.read_text()}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code in (200, 503)
        except httpx.TransportError:
            return False


def test_a_refused_bind_makes_the_service_unready_and_pages_wait(service: Service, smsc: Smsc) -> None:
    service.stop()
    (service.config / "secrets" / "smpp.password").write_text("wrong\n", encoding="utf-8")
    unready = _Answering(service.config)
    unready.start()
    try:

        def refused() -> dict[str, Any] | None:
            answer = httpx.get(f"{unready.url}/readyz", timeout=5)
            body: dict[str, Any] = answer.json()
            return body if answer.status_code == 503 and "ESME_RINVPASWD" in str(body) else None

        body = eventually(refused, 15, "/readyz to report the refused bind")
        [problem] = [p for p in body["problems"] if "smsc" in p]
        assert "bind refused" in problem and "invalid password" in problem
        incident = _alarm(unready, "db3")  # alarms are still taken: the page waits in the outbox
        assert _incident(unready, incident)["notifications"][0]["status"] in ("pending", "sending")
        assert [s for s in smsc.submits if s.status == 0] == []
        assert "bind refused" in unready.log.read_text(encoding="utf-8")
    finally:
        unready.stop()
