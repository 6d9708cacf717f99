"""Web sign-in end to end (issue 23): a real ``memoguard serve``, a browser asking for a code, the code
read where the console provider wrote it (as a phone would show it), the session it opens acting on an
incident through the API with its CSRF token, refused without it, and sign-out.

Waits on real time only for the dispatcher to send the code (a second or so).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.service import Service, e2e_config, eventually

SCRIPTS = {"Authorization": "Bearer scripts-e2e"}


@pytest.fixture
def service(tmp_path: Path, database_url: str) -> Iterator[Service]:
    running = Service(e2e_config(tmp_path, database_url))
    running.start()
    yield running
    running.stop()


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


def test_sign_in_by_a_code_sent_over_the_persons_channel_then_act_and_sign_out(service: Service) -> None:
    alarm = httpx.post(
        f"{service.url}/api/v1/alarms", json={"dedup_key": "e2e", "summary": "Disk full"}, headers=SCRIPTS
    )
    assert alarm.status_code == 200, alarm.text
    incident = alarm.json()["alarms"][0]["incident"]

    with httpx.Client(base_url=service.url, timeout=10) as browser:
        form = browser.get("/signin", headers={"Accept-Language": "fr"})
        assert form.status_code == 200 and "M'envoyer un code" in form.text
        asked = browser.post("/signin", data={"who": "carol", "csrf": _csrf(form.text)})
        assert asked.status_code == 200, asked.text

        sent = eventually(
            lambda: [p for p in service.pages() if p["purpose"] == "signin" and p["person"] == "carol"],
            15,
            "the sign-in code on the console",
        )
        code = re.search(r"\b(\d{6})\b", sent[0]["text"])
        assert code is not None and sent[0]["channel"] == "sms", sent

        wrong = browser.post(
            "/signin/code",
            data={"code": "000000" if code.group(1) != "000000" else "111111", "csrf": _csrf(asked.text)},
        )
        assert wrong.status_code == 401
        signed = browser.post("/signin/code", data={"code": code.group(1), "csrf": _csrf(asked.text)})
        assert signed.status_code == 303, signed.text
        session = browser.get("/api/v1/session").json()
        assert session["person"] == "carol"

        without = browser.post(f"/api/v1/incidents/{incident}/ack")
        assert without.status_code == 403 and "CSRF" in without.text
        acked = browser.post(f"/api/v1/incidents/{incident}/ack", headers={"X-CSRF-Token": session["csrf_token"]})
        assert acked.status_code == 200, acked.text
        assert acked.json()["incident"]["acknowledged_by"] == ["carol"]  # carol was not paged: any incident

        home = browser.get("/signin")
        out = browser.post("/signout", data={"csrf": _csrf(home.text)})
        assert out.status_code == 200
        assert browser.get("/api/v1/session").status_code == 401

    audit = service.cli("audit", "--json")
    assert audit.returncode == 0, audit.stderr
    rows = [(e["person"], e["action"], e["how"]) for e in json.loads(audit.stdout)["audit"]]
    assert rows == [
        ("carol", "signin-code", "web session"),
        ("carol", "signin-failed", "web session"),  # a wrong code for carol's request
        ("carol", "signin", "web session"),
        ("carol", "ack", "web session"),
        ("carol", "signout", "web session"),
    ]
