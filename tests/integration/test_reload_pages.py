"""A reload reaches what the providers and the reply listener built at start-up answer with (issue 19).

The service is built as ``serve`` builds it (bootstrap.service: one ``Live``, providers built once) with
a real twilio provider talking to the fake Twilio (tests/support/twilio.py, its calls answered by the
phone of tests/support/phone.py), a real SMTP provider sending to an aiosmtpd server, the real reply
listener on a loopback port, and the HTTP application served by uvicorn; the configuration is reloaded
with ``bootstrap.service.reload``, as SIGHUP does. A person added by a reload is called and e-mailed:
the call speaks their page and key 1 acknowledges as them, the links of their e-mail act, their reply is
taken. Once a reload removes them, their key, link and reply do nothing and say so. A link secret changed
by a reload signs the next e-mail's links and Reply-To, which work. The database runs on the fake clock.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from memoguard import bootstrap
from memoguard.adapters.storage.store import SqlStore
from memoguard.bootstrap.service import reload, service
from memoguard.domain.incident import IncidentState
from memoguard.http.app import create_app
from memoguard.services.application import Application
from memoguard.services.live import Live
from tests.conftest import FakeClock
from tests.integration.test_email_links import links_of
from tests.integration.test_http import MONITORING, serving
from tests.integration.test_smtp import LINK_SECRET, parts
from tests.support.phone import Phone
from tests.support.smtpd import Handler, free_port, mail_server
from tests.support.twilio import AUTH_TOKEN, NUMBER, Twilio

PUBLIC_URL = "https://memoguard.example.net"
DOMAIN = "replies.example.org"
ZOE = "+33612345610"
NEW_SECRET = "another key, long enough to sign links too"
PROVIDERS = """\
channels:
  sms: [console]
  voice: [twilio]
  email: [mail]
providers:
  console: {kind: console, file: pages.jsonl}
  twilio: {kind: twilio, account_sid: %s, auth_token_env: MG_TEST_TWILIO_TOKEN, from: '%s', api_base_url: '%s'}
  mail: {kind: smtp, host: 127.0.0.1, port: %d, tls: none, from: pager@example.net}
http: {public_url: '%s', link_secret_env: MG_TEST_LINK_SECRET, reply_domain: %s, reply_listen: '127.0.0.1:%d'}
"""
ZOE_PERSON = '  zoe:   {phone: "%s", email: zoe@example.com, language: fr, channels: [%s]}\n'
ZOE_POLICY = 'name: zoe\nsteps:\n  - {notify: ["person:zoe"], channels: [%s], ack_within: 10m}\n'
ZOE_ROUTE = "routes:\n  - {match: {labels: {policy: zoe}}, policy: zoe}\n"


@dataclass
class Running:
    directory: Path
    live: Live
    url: str  # the HTTP application, served
    twilio: Twilio
    mail: Handler
    reply_port: int
    original: str  # memoguard.yaml as served at start-up

    def reload(self, channel: str | None) -> Application:
        """Reload with zoe paged on ``channel`` by the ``zoe`` policy, or (None) with zoe gone."""
        with_zoe(self.directory, self.original, channel)
        return reload(self.live, self.directory)

    def page_zoe(self, key: str) -> str:
        body = {"dedup_key": key, "severity": "critical", "summary": f"Disk full on {key}", "labels": {"policy": "zoe"}}
        answer = httpx.post(f"{self.url}/api/v1/alarms", json=body, headers=MONITORING, timeout=10)
        assert answer.status_code == 200, answer.text
        incident: str = answer.json()["alarms"][0]["incident"]
        self.live.current().dispatcher.drain_all()
        return incident

    def incident(self, incident: str) -> Any:
        with self.live.current().store.read() as unit:
            return unit.incident(incident)

    def mailed(self, incident: str) -> tuple[dict[str, str], str]:
        """The links (on the served application) and the Reply-To of the e-mail page about ``incident``."""
        [received] = [r for r in self.mail.received if f"#{incident} " in str(r.mail["Subject"])]
        plain, _ = parts(received.mail)
        links = {verb: url.replace(PUBLIC_URL, self.url) for verb, url in links_of(plain).items()}
        return links, str(received.mail["Reply-To"])

    def reply(self, to: str, text: str = "1a") -> None:
        """Zoe answers an e-mail page; the listener refusing the address raises SMTPRecipientsRefused."""
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = "zoe@example.com", to, "Re: memoguard"
        mail.set_content(f"{text}\n\n> memoguard page\n")
        with smtplib.SMTP("127.0.0.1", self.reply_port, timeout=10) as client:
            client.send_message(mail, from_addr="zoe@example.com", to_addrs=[to])


def with_zoe(directory: Path, original: str, channel: str | None) -> None:
    """Write the configuration with zoe paged on ``channel`` by the ``zoe`` policy, or (None) without her."""
    main = directory / "memoguard.yaml"
    policy = directory / "escalation_policies" / "zoe.yaml"
    if channel is None:
        main.write_text(original, encoding="utf-8")
        policy.unlink(missing_ok=True)
        return
    text = original.replace("sources:\n", ZOE_PERSON % (ZOE, channel) + "sources:\n", 1)
    main.write_text(text.replace("routes:\n", ZOE_ROUTE, 1), encoding="utf-8")
    policy.write_text(ZOE_POLICY % channel, encoding="utf-8")


@pytest.fixture
def running(
    request: pytest.FixtureRequest, service_dir: Path, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Running]:
    """The service; ``indirect`` parametrization names the channel zoe is paged on from the start (the
    default: she is not in the start-up configuration)."""
    monkeypatch.setenv("MG_TEST_LINK_SECRET", LINK_SECRET)
    monkeypatch.setenv("MG_TEST_TWILIO_TOKEN", AUTH_TOKEN)
    main = service_dir / "memoguard.yaml"
    text = main.read_text(encoding="utf-8")
    start = text.index("channels:\n")
    reply_port = free_port()
    with Twilio(PUBLIC_URL) as twilio, mail_server() as (mail, smtp_port):
        wiring = PROVIDERS % (twilio.account_sid, NUMBER, twilio.url, smtp_port, PUBLIC_URL, DOMAIN, reply_port)
        original = text[:start] + wiring
        with_zoe(service_dir, original, getattr(request, "param", None))
        live = service(bootstrap.load(service_dir), fake_clock)
        first = live.current()
        listener = bootstrap.reply_listener(first, live)
        assert listener is not None
        listener.start()
        try:
            with serving(create_app(first, lambda: True, current=live.current)) as url:
                twilio.target = url
                yield Running(service_dir, live, url, twilio, mail, reply_port, original)
        finally:
            listener.stop()
            store = live.current().store
            assert isinstance(store, SqlStore)
            store.close()
        assert twilio.refusals == []


def test_a_person_added_by_a_reload_is_called_and_key_1_acknowledges_as_them(running: Running) -> None:
    running.reload("voice")
    incident = running.page_zoe("zoe-db")
    [call] = running.twilio.calls
    assert call.to == ZOE
    phone = Phone(running.twilio, call)

    assert phone.answer().status == 200, phone.answer_to
    assert f"Incident {incident}" in phone.text and phone.gather is not None
    assert phone.press("1").status == 200
    assert phone.said[0].text == f"Incident {incident} acquitté. Merci, au revoir."
    found = running.incident(incident)
    assert (found.state, found.acked_by) == (IncidentState.ACKNOWLEDGED, ("zoe",))


@pytest.mark.parametrize("running", ["voice"], indirect=True)
def test_a_person_removed_by_a_reload_can_no_longer_press_a_key(running: Running) -> None:
    incident = running.page_zoe("zoe-db")
    [call] = running.twilio.calls
    phone = Phone(running.twilio, call)
    assert phone.answer().status == 200

    running.reload(None)
    refused = phone.press("1")

    assert refused.status == 422
    assert "page #1 was for zoe, who is no longer in the configuration" in refused.body
    assert running.incident(incident).state == IncidentState.TRIGGERED


def test_a_person_added_by_a_reload_is_emailed_and_the_link_and_the_reply_act(running: Running) -> None:
    running.reload("email")
    first = running.page_zoe("zoe-db")
    links, reply_to = running.mailed(first)
    assert httpx.get(links["ack"], timeout=10).status_code == 200
    done = httpx.post(links["ack"], timeout=10)
    assert done.status_code == 200, done.text
    assert running.incident(first).acked_by == ("zoe",)

    second = running.page_zoe("zoe-web")
    _, reply_to = running.mailed(second)
    assert reply_to.startswith(f"memoguard+{second}=zoe=")
    running.reply(reply_to)
    found = running.incident(second)
    assert (found.state, found.acked_by) == (IncidentState.ACKNOWLEDGED, ("zoe",))
    assert httpx.get(f"{running.url}/readyz", timeout=10).status_code == 200  # the listener serves on


@pytest.mark.parametrize("running", ["email"], indirect=True)
def test_a_person_removed_by_a_reload_can_no_longer_follow_a_link_nor_reply(running: Running) -> None:
    incident = running.page_zoe("zoe-db")
    links, reply_to = running.mailed(incident)

    running.reload(None)

    gone = httpx.post(links["ack"], timeout=10)
    assert gone.status_code == 404, gone.text
    assert "zoe is no longer in the configuration" in gone.text
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        running.reply(reply_to)
    assert b"No such reply address" in refused.value.recipients[reply_to][1]
    assert running.incident(incident).state == IncidentState.TRIGGERED


def test_a_link_secret_changed_by_a_reload_signs_the_next_links_and_reply_addresses(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    running.reload("email")
    before = running.page_zoe("zoe-db")
    old_links, _ = running.mailed(before)

    monkeypatch.setenv("MG_TEST_LINK_SECRET", NEW_SECRET)
    running.reload("email")
    after = running.page_zoe("zoe-web")
    links, reply_to = running.mailed(after)

    done = httpx.post(links["ack"], timeout=10)
    assert done.status_code == 200, done.text
    assert running.incident(after).acked_by == ("zoe",)
    running.reply(reply_to, "1r")  # resolve, by the reply address signed with the new secret
    assert running.incident(after).state == IncidentState.RESOLVED
    # A link sent before the change was signed with the old secret: it no longer acts, and says why.
    stale = httpx.post(old_links["ack"], timeout=10)
    assert stale.status_code == 403 and "not valid" in stale.text, stale.text
    assert running.incident(before).state == IncidentState.TRIGGERED
