"""Voice pages over Twilio end to end: a real ``memoguard serve`` whose twilio provider talks to the fake
Twilio of tests/support/twilio.py, and whose webhooks the fake calls back, signed, as Twilio does (the
phone of tests/support/phone.py answers, presses keys, or lets a voicemail pick up).

The policy pages the primary by SMS then by voice (an SMS Twilio reports undelivered fails over to a
call), and the secondary by voice after 8 seconds without an acknowledgement. bootstrap wires the hook
and the calls: nothing here is built by hand.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.service import Service, e2e_config, eventually
from tests.e2e.test_twilio_sms import _incident, _to, _who
from tests.support.phone import Phone
from tests.support.twilio import AUTH_TOKEN, NUMBER, Placed, Twilio

SCRIPTS = {"Authorization": "Bearer scripts-e2e"}
PUBLIC_URL = "https://memoguard.example.net"
POLICY = """\
name: fast
acknowledgement: {%s}
steps:
  - {notify: ["roster:ops"], channels: [sms, voice], ack_within: 8s}
  - {notify: ["roster:ops/secondary"], channels: [voice], ack_within: 1m}
"""


@pytest.fixture
def twilio() -> Iterator[Twilio]:
    with Twilio(PUBLIC_URL) as fake:
        yield fake
    assert fake.refusals == []


CRISIS = """\
name: fast
acknowledgement: {mode: single}
steps:
  - {notify: ["roster:ops"], channels: [voice], ack_within: 2s}
crisis_cell: {members: [bob, dave], channels: [voice], quorum: 2, bridge: "+33123456789", repeat_every: 10m}
"""


def _serve(tmp_path: Path, database_url: str, twilio: Twilio, mode: str, policy: str = POLICY) -> Iterator[Service]:
    config = e2e_config(tmp_path, database_url)
    main = config / "memoguard.yaml"
    text = main.read_text(encoding="utf-8").replace(
        "  console: {kind: console, file: pages.jsonl}\n",
        f"  twilio: {{kind: twilio, account_sid: {twilio.account_sid}, auth_token_file: secrets/twilio.token,"
        f" from: '{NUMBER}', api_base_url: '{twilio.url}'}}\n",
    )
    text = text.replace("  sms: [console]\n", "  sms: [twilio]\n  voice: [twilio]\n")
    main.write_text(f"http: {{public_url: '{PUBLIC_URL}'}}\n" + text, encoding="utf-8")
    text = policy % mode if "%s" in policy else policy
    (config / "escalation_policies" / "fast.yaml").write_text(text, encoding="utf-8")
    (config / "secrets" / "twilio.token").write_text(AUTH_TOKEN + "\n", encoding="utf-8")
    running = Service(config)
    twilio.target = running.url  # memoguard behind its public URL, as behind a reverse proxy
    running.start()
    yield running
    running.stop()
    shutil.rmtree(config / "secrets", ignore_errors=True)


@pytest.fixture
def service(tmp_path: Path, database_url: str, twilio: Twilio) -> Iterator[Service]:
    yield from _serve(tmp_path, database_url, twilio, "mode: single")


@pytest.fixture
def double(tmp_path: Path, database_url: str, twilio: Twilio) -> Iterator[Service]:
    yield from _serve(tmp_path, database_url, twilio, "mode: double, confirm_within: 1m")


@pytest.fixture
def crisis(tmp_path: Path, database_url: str, twilio: Twilio) -> Iterator[Service]:
    yield from _serve(tmp_path, database_url, twilio, "", CRISIS)


def _calls(twilio: Twilio, count: int) -> list[Placed]:
    return eventually(lambda: twilio.calls if len(twilio.calls) >= count else None, 20, f"{count} call(s)")


def _alarm_then_call(service: Service, twilio: Twilio) -> tuple[str, str, str, Phone]:
    """An alarm; its SMS to the primary, reported undelivered by Twilio; the call it fails over to."""
    name, phone, _ = _who(service.config)
    service.bearer()  # the reader's token first: the CLI takes a moment
    body = {"dedup_key": "db1", "severity": "critical", "summary": "Disk full on db1"}
    answer = httpx.post(f"{service.url}/api/v1/alarms", json=body, headers=SCRIPTS, timeout=5)
    assert answer.status_code == 200, answer.text
    incident: str = answer.json()["alarms"][0]["incident"]
    [sms] = _to(twilio, phone, 1)
    assert twilio.status(sms.sid, "undelivered", "30003").status == 200
    [call] = _calls(twilio, 1)
    assert call.to == phone
    return incident, name, phone, Phone(twilio, call)


def _state(service: Service, incident: str) -> dict[str, Any]:
    return _incident(service, incident)


def test_sms_then_a_call_acknowledged_by_key_1_and_nobody_else_paged(service: Service, twilio: Twilio) -> None:
    twilio.fail(429, 20429, retry_after="1")  # Twilio slows the first request down: held, nothing lost
    incident, name, phone, call = _alarm_then_call(service, twilio)

    forged = twilio.post(
        call.call.form["Url"], {"AccountSid": twilio.account_sid, "CallSid": call.call.sid}, token="0" * 32
    )
    assert forged.status == 403
    assert call.answer().status == 200
    assert call.gather is not None and "1" in call.text
    assert call.press("1").status == 200
    assert call.hangs_up
    shown = _state(service, incident)
    assert (shown["state"], shown["acknowledged_by"]) == ("acknowledged", [name])
    kinds = [e["kind"] for e in shown["timeline"]]
    assert "delivery_throttled" in kinds and "voice_key" in kinds
    assert call.status("completed").status == 200
    assert any(e["kind"] == "call_status" for e in _state(service, incident)["timeline"])
    assert {c.to for c in twilio.calls} == {phone} and {m.to for m in twilio.messages} == {phone}


def test_a_voicemail_is_no_acknowledgement_and_the_secondary_is_called(service: Service, twilio: Twilio) -> None:
    incident, _, phone, call = _alarm_then_call(service, twilio)

    assert call.answer("machine_start").status == 200
    assert call.gather is None and call.hangs_up
    assert _state(service, incident)["state"] == "triggered"

    _, second = _calls(twilio, 2)  # after the step's 8 seconds
    assert second.to != phone
    shown = _state(service, incident)
    assert shown["state"] == "triggered"
    assert any(e["kind"] == "call_machine" for e in shown["timeline"])


def test_double_acknowledgement_by_keys_1_then_2(double: Service, twilio: Twilio) -> None:
    incident, name, _, call = _alarm_then_call(double, twilio)
    assert call.answer().status == 200
    assert call.gather is not None, (call.answer_to, _state(double, incident))
    call.press("1")
    assert call.gather is not None  # asks for 2
    assert _state(double, incident)["state"] == "acknowledged"
    call.press("2")
    assert call.hangs_up
    shown = _state(double, incident)
    assert (shown["state"], shown["acknowledged_by"]) == ("confirmed", [name])


def test_crisis_cell_members_press_0_and_the_quorum_is_reached_by_joining(crisis: Service, twilio: Twilio) -> None:
    crisis.bearer()
    body = {"dedup_key": "db1", "severity": "critical", "summary": "Disk full on db1"}
    answer = httpx.post(f"{crisis.url}/api/v1/alarms", json=body, headers=SCRIPTS, timeout=5)
    assert answer.status_code == 200, answer.text
    incident: str = answer.json()["alarms"][0]["incident"]
    calls = {c.to: Phone(twilio, c) for c in _calls(twilio, 3)}  # the primary, then bob and dave
    bob, dave = calls["+33612345602"], calls["+33612345604"]
    for member in (bob, dave):
        assert member.answer().status == 200
        assert "0 to join the crisis bridge" in member.text
        member.press("0")
        assert member.conference is not None and member.conference.text == f"memoguard-incident-{incident}"
    assert bob.bridge("participant-join").status == 200
    assert _state(crisis, incident)["state"] == "triggered"  # one of two
    assert dave.bridge("participant-join").status == 200
    shown = _state(crisis, incident)
    assert (shown["state"], sorted(shown["acknowledged_by"])) == ("acknowledged", ["bob", "dave"])
    joined = [e["text"] for e in shown["timeline"] if e["kind"] == "crisis_bridge"]
    assert joined == [f"{who} joined the crisis bridge (memoguard-incident-{incident})" for who in ("bob", "dave")]
