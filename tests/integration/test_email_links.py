"""Acknowledging from an e-mail by its links (issue 16), through the real HTTP app on loopback.

End to end: an alarm pages Alice, whose first channel is e-mail; the page reaches the aiosmtpd test
server; the links are read from the text part as she would read them, then followed with httpx on the
served application. A GET (what a mail scanner does) changes nothing; the POST of its button acts as
Alice, and the timeline says it came from an e-mail link. Tampered, expired (the fake clock moved past
``link_ttl``), replayed and no-longer-applicable links get a page saying why and change nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from memoguard import bootstrap
from memoguard.adapters.smtp import SmtpProvider
from memoguard.domain.incident import IncidentState
from memoguard.http.app import create_app
from memoguard.services.action import Verb
from memoguard.services.link import Signer
from tests.conftest import T0, FakeClock
from tests.integration.test_http import serving
from tests.integration.test_smtp import EMAIL_FIRST, LINK_SECRET, parts, settings
from tests.support.delivery import Builder, World
from tests.support.smtpd import Handler, mail_server

PUBLIC = "https://memoguard.example.org"


@dataclass
class Mailed:
    world: World
    server: Handler
    url: str  # where the application is served
    incident: str
    links: dict[str, str]  # verb -> the link's address on the served application

    def body(self, incident: str | None = None) -> dict[str, Any]:
        return self.world.app.incidents.show(incident or self.incident)


def links_of(plain: str) -> dict[str, str]:
    found = dict(re.findall(r"^(\w[\w ]*?) ?: (https://\S+)$", plain, re.MULTILINE))
    names = {"Acquitter": "ack", "Confirmer": "confirm", "Résoudre": "resolve", "Escalader": "escalate"}
    return {names[name]: url for name, url in found.items()}


@pytest.fixture
def mailed(build: Builder, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailed]:
    monkeypatch.setenv("MG_TEST_LINK_SECRET", LINK_SECRET)
    with mail_server([]) as (server, port):

        def real(app: Any) -> dict[str, Any]:
            assert app.links is not None
            mail = SmtpProvider(
                "mail", settings(port), None, fake_clock, local_hostname="memoguard.test", links=app.links.for_page
            )
            return {"mail": mail}

        world = build(EMAIL_FIRST % port, ("console",), alice="[email, sms]", real=real)
        [incident] = world.open("db-1")
        world.settle()
        [received] = server.received
        plain, html = parts(received.mail)
        links = links_of(plain)
        assert sorted(links) == ["ack", "escalate", "resolve"]  # no confirm: this policy is single
        for url in links.values():
            assert url.startswith(f"{PUBLIC}/email/")
            assert f'href="{url}"' in html
        with serving(create_app(world.app, lambda: True)) as base:
            yield Mailed(world, server, base, incident, {v: u.replace(PUBLIC, base) for v, u in links.items()})


def test_get_changes_nothing_then_the_post_acknowledges_as_the_person(mailed: Mailed) -> None:
    before = mailed.body()
    shown = httpx.get(mailed.links["ack"])
    assert shown.status_code == 200
    assert shown.headers["content-type"].startswith("text/html")
    assert (shown.headers["cache-control"], shown.headers["referrer-policy"]) == ("no-store", "no-referrer")
    assert '<form method="post">' in shown.text and "Acquitter" in shown.text  # Alice reads French
    assert "déclenché" in shown.text
    assert httpx.get(mailed.links["ack"]).status_code == 200  # a scanner opening it twice: still nothing
    assert mailed.body() == before

    done = httpx.post(mailed.links["ack"])
    assert done.status_code == 200, done.text
    assert "C&#39;est fait" in done.text or "C'est fait" in done.text
    after = mailed.world.incident(mailed.incident)
    assert after.state == IncidentState.ACKNOWLEDGED
    assert after.acked_by == ("alice",)
    [ack] = mailed.world.timeline(mailed.incident, "acknowledged")
    assert ack.person == "alice" and "e-mail link" in ack.text
    [audited] = [e for e in mailed.world.app.access.audit() if e.action == "ack"]
    assert (audited.person, audited.how, audited.address, audited.target) == (
        "alice",
        "e-mail link",
        "127.0.0.1",
        mailed.incident,
    )
    [row] = [r for r in mailed.world.rows(mailed.incident) if r.person == "alice"]
    assert row.channel == "email"


def test_a_replayed_ack_link_says_already_done_and_changes_nothing(mailed: Mailed) -> None:
    assert httpx.post(mailed.links["ack"]).status_code == 200
    before = mailed.body()
    again = httpx.post(mailed.links["ack"])
    assert again.status_code == 409
    assert "déjà acquitté" in again.text and "Rien n" in again.text
    assert mailed.body() == before


@pytest.mark.parametrize("verb", ["ack", "resolve", "escalate"])
def test_a_tampered_link_is_refused_and_changes_nothing(mailed: Mailed, verb: str) -> None:
    url = mailed.links[verb]
    payload, mac = url.rsplit("/", 1)[1].split(".")
    forged = Signer("another key, the attacker's own one", timedelta(hours=1))
    other = forged.sign(mailed.incident, "alice", Verb(verb), 0, T0)
    tampered = [
        url[:-1] + ("A" if url[-1] != "A" else "B"),  # one character of the MAC
        url.replace(payload, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")),  # of the payload
        url.replace(f"{payload}.{mac}", payload),  # the MAC cut off
        url.rsplit("/", 1)[0] + "/" + other,  # signed with another key
    ]
    before = mailed.body()
    for link in tampered:
        for answer in (httpx.get(link), httpx.post(link)):
            assert answer.status_code == 403, link
            assert "not valid" in answer.text
    assert mailed.body() == before


def test_an_expired_link_is_refused_and_changes_nothing(mailed: Mailed, fake_clock: FakeClock) -> None:
    fake_clock.advance(timedelta(hours=24) - timedelta(seconds=1))
    assert httpx.get(mailed.links["ack"]).status_code == 200
    fake_clock.advance(timedelta(seconds=1))
    before = mailed.body()
    for answer in (httpx.get(mailed.links["ack"]), httpx.post(mailed.links["ack"])):
        assert answer.status_code == 410
        assert "expired" in answer.text
    assert mailed.body() == before


def test_escalate_acts_once_then_its_stage_is_over(mailed: Mailed) -> None:
    assert mailed.world.incident(mailed.incident).step == 0
    done = httpx.post(mailed.links["escalate"])
    assert done.status_code == 200, done.text
    assert mailed.world.incident(mailed.incident).step == 1
    before = mailed.body()
    for answer in (httpx.get(mailed.links["escalate"]), httpx.post(mailed.links["escalate"])):
        assert answer.status_code == 409
        assert "étape" in answer.text
    assert mailed.body() == before


def test_resolve_then_every_link_of_the_incident_no_longer_applies(mailed: Mailed) -> None:
    assert httpx.post(mailed.links["resolve"]).status_code == 200
    assert mailed.world.incident(mailed.incident).state == IncidentState.RESOLVED
    before = mailed.body()
    for verb in ("ack", "resolve", "escalate"):
        for answer in (httpx.get(mailed.links[verb]), httpx.post(mailed.links[verb])):
            assert answer.status_code == 409, verb
            assert "résolu" in answer.text
            assert "<form" not in answer.text
    assert mailed.body() == before


def test_a_confirm_link_is_refused_where_the_policy_asks_for_no_confirmation(mailed: Mailed) -> None:
    signer = Signer(LINK_SECRET, timedelta(hours=24))
    token = signer.sign(mailed.incident, "alice", Verb.CONFIRM, 0, T0)
    before = mailed.body()
    for answer in (httpx.get(f"{mailed.url}/email/{token}"), httpx.post(f"{mailed.url}/email/{token}")):
        assert answer.status_code == 409
        assert "ne demande pas de confirmation" in answer.text
    assert mailed.body() == before


def test_double_mode_pages_carry_a_confirm_link_that_confirms_after_the_ack(mailed: Mailed) -> None:
    links = mailed.world.app.links
    assert links is not None
    [incident] = mailed.world.open("db-2", policy="double")
    mailed.world.settle()
    assert sorted(links.for_page(incident, "alice", 0, T0)) == ["ack", "confirm", "escalate", "resolve"]
    signer = Signer(LINK_SECRET, timedelta(hours=24))
    ack, confirm = (f"{mailed.url}/email/{signer.sign(incident, 'alice', v, 0, T0)}" for v in (Verb.ACK, Verb.CONFIRM))
    early = httpx.post(confirm)  # confirming before anyone acknowledged
    assert early.status_code == 409 and "doit être acquitté" in early.text
    assert httpx.post(ack).status_code == 200
    assert httpx.post(confirm).status_code == 200
    assert mailed.world.incident(incident).state == IncidentState.CONFIRMED
    [entry] = mailed.world.timeline(incident, "confirmed")
    assert "e-mail link" in entry.text


def test_a_link_to_an_unknown_incident_or_person_is_a_clear_404(mailed: Mailed) -> None:
    signer = Signer(LINK_SECRET, timedelta(hours=24))
    for incident, person in (("999999", "alice"), (mailed.incident, "mallory")):
        token = signer.sign(incident, person, Verb.ACK, 0, T0)
        answer = httpx.post(f"{mailed.url}/email/{token}")
        assert answer.status_code == 404
        assert ("999999" if person == "alice" else "mallory") in answer.text


def test_an_alarm_summary_is_escaped_on_the_page(build: Builder, fake_clock: FakeClock, monkeypatch: Any) -> None:
    monkeypatch.setenv("MG_TEST_LINK_SECRET", LINK_SECRET)
    world = build(EMAIL_FIRST % 1, ("console", "mail"), alice="[email, sms]")
    from memoguard.services.record import Alarm, AlarmStatus  # noqa: PLC0415 - only here

    [receipt] = world.app.ingest.receive(
        [Alarm("monitoring", "x", AlarmStatus.FIRING, "critical", "<script>x</script>")]
    )
    assert receipt.incident is not None
    token = Signer(LINK_SECRET, timedelta(hours=24)).sign(receipt.incident, "alice", Verb.ACK, 0, T0)
    with serving(create_app(world.app, lambda: True)) as base:
        page = httpx.get(f"{base}/email/{token}")
    assert page.status_code == 200
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        (None, "http: environment variable MG_TEST_LINK_SECRET (link_secret_env) is not set or empty"),
        ("short", "http.link_secret: the link secret is 5 bytes long: use at least 16 (32 random bytes)"),
    ],
)
def test_the_service_does_not_start_without_a_usable_link_secret(
    build: Builder, monkeypatch: pytest.MonkeyPatch, secret: str | None, expected: str
) -> None:
    if secret is None:
        monkeypatch.delenv("MG_TEST_LINK_SECRET", raising=False)
    else:
        monkeypatch.setenv("MG_TEST_LINK_SECRET", secret)
    with pytest.raises(bootstrap.StartupError) as caught:
        build(EMAIL_FIRST % 1, ("console",), alice="[email, sms]")
    assert str(caught.value) == expected
