"""A call's ``failed`` status that beats the dispatcher's commit of the call's SID (issue 15).

Twilio can report on a call before its answer to the Calls API has reached memoguard and been committed:
the fake Twilio here posts the signed ``failed`` status callback while it still holds that answer back
(``before_answering``). The status waits for the SID, as an SMS receipt waits for its message id
(``patiently``), then fails the page over like any failed call; a service that gives it no time to wait
says so on the timeline rather than taking it for a status about an earlier attempt.
"""

# ruff: noqa: F811 (pytest fixtures imported from test_twilio_voice.py, then asked for by name)
from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_twilio_voice import twilio, voice_world  # noqa: F401 (fixture)
from tests.support.delivery import PENDING, SENT, Builder, World
from tests.support.phone import Phone
from tests.support.twilio import Answer, Placed, Twilio

WAIT = 30.0  # real seconds at most; the status stops waiting as soon as the SID is committed


class Race:
    """Posts ``failed`` for each call placed while the Calls API's answer is held back; ``held`` until
    memoguard is waiting for the SID (``patient``) or, for a service that does not wait, has answered."""

    def __init__(self, twilio: Twilio) -> None:
        self.twilio = twilio
        self.waiting = threading.Event()
        self.answers: list[Answer] = []
        self.posts: list[threading.Thread] = []
        self.patient = True

    def pause(self, seconds: float) -> None:
        self.waiting.set()
        threading.Event().wait(seconds)  # the service's own poll interval, as in production

    def __call__(self, placed: Placed) -> None:
        post = threading.Thread(
            target=lambda: self.answers.append(Phone(self.twilio, placed).status("failed", error="32009"))
        )
        self.posts.append(post)
        post.start()
        if self.patient:
            assert self.waiting.wait(WAIT), "the status did not wait for the call's SID"
        else:
            post.join(WAIT)  # answered before the SID was: it could not wait


@pytest.fixture
def race(twilio: Twilio) -> Race:
    return Race(twilio)


@pytest.fixture
def patient(build: Builder, service_dir: Path, twilio: Twilio, race: Race) -> Iterator[World]:
    with voice_world(build, service_dir, twilio, lambda calls: calls.patient(WAIT, race.pause)) as world:
        yield world


@pytest.fixture
def impatient(build: Builder, service_dir: Path, twilio: Twilio) -> Iterator[World]:
    with voice_world(build, service_dir, twilio) as world:
        yield world


def _page(world: World, twilio: Twilio, race: Race) -> str:
    twilio.before_answering = race
    [incident] = world.open("db-1")
    world.settle()
    twilio.before_answering = None
    for post in race.posts:
        post.join(WAIT)
    assert [a.status for a in race.answers] == [200]
    return incident


def test_a_failed_status_before_the_sid_is_committed_waits_for_it_and_fails_over(
    patient: World, twilio: Twilio, race: Race
) -> None:
    incident = _page(patient, twilio, race)

    row = patient.row(incident)
    assert (row.status, row.provider_index) == (PENDING, 1)
    [call] = twilio.calls
    [status] = patient.timeline(incident, "call_status")
    assert status.text == f"Call #{row.id} to alice via twilio failed (failed, error 32009)"
    [failover] = patient.timeline(incident, "delivery_failover")
    assert (
        failover.text == f"Page #{row.id}: voice to alice via twilio failed (call failed, error 32009); trying backup"
    )
    patient.settle()
    assert [m.channel for _, m in patient.providers["backup"].sent] == ["voice"]
    assert Phone(twilio, call).status("failed", error="32009").status == 200  # Twilio repeating itself: once only
    assert len(patient.timeline(incident, "delivery_failover")) == 1


def test_a_failed_status_whose_sid_never_came_in_time_is_said_so(impatient: World, twilio: Twilio, race: Race) -> None:
    race.patient = False
    incident = _page(impatient, twilio, race)

    row = impatient.row(incident)
    assert (row.status, row.provider_index) == (SENT, 0)
    [status] = impatient.timeline(incident, "call_status")
    assert status.text == (
        f"Call #{row.id} to alice via twilio failed (failed, error 32009)"
        " (before its call id was recorded: not failed over, the step's timeout runs)"
    )
    assert impatient.timeline(incident, "delivery_failover") == []
