"""SMS over Twilio end to end: a real ``memoguard serve`` whose twilio provider talks to the fake Twilio of
tests/support/twilio.py, and whose webhooks the fake calls back, signed, as Twilio does.

An alarm comes in over HTTP; Twilio first answers 429 (the provider is held, nothing is lost), then takes
the page to the primary's number; its status callback lands on the timeline; the primary's reply "1a"
acknowledges the incident and brings back an answer through Twilio, and nobody else is paged. A forged
webhook is refused with 403 and changes nothing. bootstrap wires the hook: nothing here is built by hand.
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
from tests.support.twilio import AUTH_TOKEN, NUMBER, Sent, Twilio

SCRIPTS = {"Authorization": "Bearer scripts-e2e"}
PUBLIC_URL = "https://memoguard.example.net"


@pytest.fixture
def twilio() -> Iterator[Twilio]:
    with Twilio(PUBLIC_URL) as fake:
        fake.fail(429, 20429, retry_after="1")  # the first page is held a second, not failed over
        yield fake
    assert fake.refusals == []


@pytest.fixture
def service(tmp_path: Path, database_url: str, twilio: Twilio) -> Iterator[Service]:
    config = e2e_config(tmp_path, database_url)
    main = config / "memoguard.yaml"
    text = main.read_text(encoding="utf-8").replace(
        "  console: {kind: console, file: pages.jsonl}\n",
        f"  twilio: {{kind: twilio, account_sid: {twilio.account_sid}, auth_token_file: secrets/twilio.token,"
        f" from: '{NUMBER}', api_base_url: '{twilio.url}'}}\n",
    )
    text = text.replace("  sms: [console]\n", "  sms: [twilio]\n")
    main.write_text(f"http: {{public_url: '{PUBLIC_URL}'}}\n" + text, encoding="utf-8")
    (config / "secrets" / "twilio.token").write_text(AUTH_TOKEN + "\n", encoding="utf-8")
    running = Service(config)
    twilio.target = running.url  # memoguard behind its public URL, as behind a reverse proxy
    running.start()
    yield running
    running.stop()
    shutil.rmtree(config / "secrets", ignore_errors=True)


def _who(config: Path) -> tuple[str, str, str]:
    loaded = load_config(config)
    primary = loaded.roster("ops").oncall(datetime.now(UTC))
    assert primary is not None
    person = loaded.people[primary.person]
    assert person.phone is not None
    return person.name, person.phone, person.language


def _incident(service: Service, incident: str) -> dict[str, Any]:
    reader = service.bearer()  # reads need a personal token (issue 23)
    shown: dict[str, Any] = httpx.get(f"{service.url}/api/v1/incidents/{incident}", headers=reader, timeout=5).json()
    return shown


def _to(twilio: Twilio, phone: str, count: int) -> list[Sent]:
    def arrived() -> list[Sent] | None:
        found = [m for m in twilio.messages if m.to == phone]
        return found if len(found) >= count else None

    return eventually(arrived, 15, f"{count} SMS to {phone} through Twilio")


def test_a_page_through_twilio_is_acknowledged_by_a_signed_reply(service: Service, twilio: Twilio) -> None:
    name, phone, language = _who(service.config)
    service.bearer()  # the reader's token first: the CLI takes a moment, and this config's steps last seconds
    body = {"dedup_key": "db1", "severity": "critical", "summary": "Disk full on db1"}
    answer = httpx.post(f"{service.url}/api/v1/alarms", json=body, headers=SCRIPTS, timeout=5)
    assert answer.status_code == 200, answer.text
    incident = answer.json()["alarms"][0]["incident"]

    [page] = _to(twilio, phone, 1)
    hint = "Répondez 1a pour acquitter." if language == "fr" else "Reply 1a to acknowledge."
    assert page.body.startswith(f"memoguard #{incident} critical") and page.body.endswith(hint)
    assert page.form["StatusCallback"] == f"{PUBLIC_URL}/twilio/twilio/status"

    forged = twilio.post(
        f"{PUBLIC_URL}/twilio/twilio/sms",
        {"AccountSid": twilio.account_sid, "MessageSid": page.sid, "From": phone, "To": NUMBER, "Body": "1a"},
        signature=twilio.sign(f"{service.url}/twilio/twilio/sms", {"Body": "1a"}),
    )
    assert forged.status == 403
    assert _incident(service, incident)["state"] == "triggered"

    assert twilio.status(page.sid, "delivered").status == 200
    receipts = [e for e in _incident(service, incident)["timeline"] if e["kind"] == "delivery_receipt"]
    assert [e["text"] for e in receipts] == [f"Page #1 to {name} delivered (DELIVRD), receipt from twilio"]

    assert twilio.inbound("/twilio/twilio/sms", phone, "1a").status == 200
    shown = _incident(service, incident)
    assert (shown["state"], shown["acknowledged_by"]) == ("acknowledged", [name])
    _, answered = _to(twilio, phone, 2)
    done = "acquitté" if language == "fr" else "acknowledged"
    assert answered.body.startswith(f"memoguard #{incident} {done}")
    assert {m.to for m in twilio.messages} == {phone}  # nobody else paged
