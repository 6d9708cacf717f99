"""The web console in a real browser (issue 18): Debian's chromium through Playwright (tests/e2e/browser.py)
on a real ``memoguard serve`` on loopback. Sign in by a code read where the console provider wrote it (as
a phone would show it), see a new alarm appear without reloading, acknowledge it from a phone-sized
viewport through the confirmation step, see the timeline change live, and a French page for a French
person with JavaScript off. Screenshots of each page are saved under the test's temporary directory
(``screenshots/``).

Waits (Playwright's ``expect``) on real time only for the service to do its work; no timing asserted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.service import Service, e2e_config, eventually

SCRIPTS = {"Authorization": "Bearer scripts-e2e"}
PHONE = {"width": 390, "height": 844}
WAIT = 20_000  # ms: the longest Playwright waits for the service (a loaded CI machine)


@pytest.fixture
def service(tmp_path: Path, database_url: str) -> Iterator[Service]:
    running = Service(e2e_config(tmp_path, database_url))
    try:
        running.start()
        yield running
    finally:
        running.stop()  # also when it never became ready: no service left running


def _alarm(service: Service, key: str, summary: str) -> str:
    answer = httpx.post(
        f"{service.url}/api/v1/alarms",
        json={"dedup_key": key, "summary": summary, "labels": {"host": "db1", "team": "storage"}},
        headers=SCRIPTS,
    )
    assert answer.status_code == 200, answer.text
    incident: str = answer.json()["alarms"][0]["incident"]
    return incident


def _sign_in(page: Page, service: Service, person: str, shots: Path) -> None:
    page.goto(f"{service.url}/signin")
    page.fill("#who", person)
    page.locator("form[action='/signin'] button[type=submit]").click()
    expect(page.locator("#code")).to_be_visible()
    sent = eventually(
        lambda: [p for p in service.pages() if p["purpose"] == "signin" and p["person"] == person],
        20,
        f"the sign-in code of {person} on the console provider",
    )
    code = re.search(r"\b(\d{6})\b", sent[-1]["text"])
    assert code is not None, sent
    page.screenshot(path=shots / f"signin-code-{person}.png", full_page=True)
    page.fill("#code", code.group(1))
    page.locator("form[action='/signin/code'] button[type=submit]").click()
    page.locator("a[href='/console']").click()
    expect(page).to_have_url(f"{service.url}/console")


def test_sign_in_see_an_alarm_arrive_live_and_acknowledge_it_on_a_phone(
    service: Service, browser: Browser, tmp_path: Path
) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="en-GB")
    page = context.new_page()
    try:
        _sign_in(page, service, "bob", shots)
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("body")).to_have_attribute("data-stream", "open", timeout=WAIT)
        page.evaluate("window.notReloaded = true")

        incident = _alarm(service, "disk-db1", "Disk full on db1")

        row = page.locator(f"li.incident[data-incident='{incident}']")
        expect(row).to_contain_text("Disk full on db1", timeout=WAIT)  # pushed, not reloaded
        expect(row).to_contain_text("(sms,", timeout=WAIT)  # who was paged, by which channel
        assert page.evaluate("window.notReloaded") is True
        page.screenshot(path=shots / "incidents-phone.png", full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling

        row.locator("a.summary").click()
        expect(page.locator("h1")).to_contain_text("Disk full on db1")
        expect(page.locator(".alarms .labels")).to_contain_text("team=storage")
        page.get_by_role("link", name="Acknowledge").click()
        expect(page.locator("form.confirm")).to_contain_text(f"Acknowledge incident {incident}?")
        page.screenshot(path=shots / "confirm-ack-phone.png", full_page=True)
        page.get_by_role("button", name="Yes, acknowledge").click()

        expect(page.locator("p.done")).to_have_text("Done.")
        expect(page.locator(".state-value")).to_have_text("acknowledged")
        expect(page.locator(".timeline .kind-acknowledged")).to_contain_text("bob")
        page.screenshot(path=shots / "incident-acknowledged-phone.png", full_page=True)

        # Someone else resolves it elsewhere: the open page follows without a reload.
        expect(page.locator("body")).to_have_attribute("data-stream", "open", timeout=WAIT)
        page.evaluate("window.notReloaded = true")
        resolved = httpx.post(f"{service.url}/api/v1/incidents/{incident}/resolve", headers=service.bearer("dave"))
        assert resolved.status_code == 200, resolved.text
        expect(page.locator(".state-value")).to_have_text("resolved", timeout=WAIT)
        expect(page.locator(".timeline .kind-resolved")).to_contain_text("dave")
        assert page.evaluate("window.notReloaded") is True
        page.screenshot(path=shots / "incident-resolved-phone.png", full_page=True)
    finally:
        context.close()


def test_a_french_person_gets_the_console_in_french_and_it_works_without_javascript(
    service: Service, browser: Browser, tmp_path: Path
) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    incident = _alarm(service, "cpu-db2", "CPU hot on db2")
    # The browser says English and runs no script: the person's language wins, the forms still work.
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB", java_script_enabled=False)
    page = context.new_page()
    try:
        _sign_in(page, service, "alice", shots)  # alice reads French (memoguard.yaml)
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.locator("#live-status")).to_have_text("")  # not live without the script
        row = page.locator(f"li.incident[data-incident='{incident}']")
        expect(row.get_by_role("link", name="Prendre en charge")).to_be_visible()
        expect(page.get_by_role("button", name="Afficher")).to_be_visible()
        page.screenshot(path=shots / "incidents-fr.png", full_page=True)
        row.get_by_role("link", name="Prendre en charge").click()
        expect(page.get_by_role("button", name="Oui, je prends en charge")).to_be_visible()
        page.screenshot(path=shots / "confirm-ack-fr.png", full_page=True)
        page.get_by_role("button", name="Oui, je prends en charge").click()
        expect(page.locator("p.done")).to_have_text("C'est fait.")
        expect(page.locator(".state-value")).to_have_text("pris en charge")
        expect(page.locator(".timeline .kind-acknowledged")).to_contain_text("alice")
        page.screenshot(path=shots / "incident-acknowledged-fr.png", full_page=True)
    finally:
        context.close()
