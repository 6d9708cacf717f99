"""The zendesk provider against our Zendesk-compatible helpdesk (tests/support/helpdesk.py), over real
loopback HTTP. Quotas run on the fake clock; the provider never waits, so neither do the tests."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from memoguard.adapters.zendesk import ZendeskProvider
from memoguard.services.provider import BatchProvider, DeliveryError, Message, Outcome
from tests.conftest import T0, FakeClock
from tests.support.helpdesk import Helpdesk


def event(
    incident: int = 12,
    kind: str = "triggered",
    state: str = "triggered",
    *,
    title: str = "disk full on db-prod",
    severity: str = "critical",
    url: str | None = "http://memoguard.test/incidents/12",
    by: str | None = None,
) -> dict[str, Any]:
    return {
        "version": 1,
        "event": kind,
        "at": T0.isoformat(),
        "by": by,
        "text": f"Incident #{incident} {kind}" + (f" by {by}" if by else ""),
        "incident": {
            "id": str(incident),
            "title": title,
            "severity": severity,
            "state": state,
            "policy": "critical",
            "source": "prometheus",
            "opened_at": T0.isoformat(),
            "step": 1,
            "acked_by": [],
            "confirmed_by": [],
            "url": url,
        },
    }


def message(document: dict[str, Any], reference: str | None = None, *, number: int = 1) -> Message:
    return Message(
        id=number,
        key=f"notification-{number}",
        incident=document["incident"]["id"],
        person=None,
        channel="helpdesk",
        purpose="ticket",
        subject=document["incident"]["title"],
        text=document["text"],
        created_at=T0,
        event=document,
        reference=reference,
    )


@pytest.fixture
def clock() -> FakeClock:
    # Mid-minute, so the per-minute window's Retry-After is not a full minute.
    return FakeClock(T0 + timedelta(seconds=15))


@pytest.fixture
def desk(clock: FakeClock) -> Iterator[Helpdesk]:
    with Helpdesk(clock) as served:
        yield served


@pytest.fixture
def zendesk(desk: Helpdesk, clock: FakeClock) -> Iterator[ZendeskProvider]:
    provider = ZendeskProvider("zendesk", desk.url, clock)
    yield provider
    provider.close()


def failure(call: Any) -> DeliveryError:
    with pytest.raises(DeliveryError) as raised:
        call()
    return raised.value


def test_it_is_a_batch_provider(zendesk: ZendeskProvider) -> None:
    assert isinstance(zendesk, BatchProvider)
    assert zendesk.batchable(message(event()))
    assert not zendesk.batchable(message(event(kind="acknowledged"), reference="7"))


def test_a_ticket_is_created_acknowledged_and_solved(zendesk: ZendeskProvider, desk: Helpdesk) -> None:
    reference = zendesk.send(message(event()))

    assert reference is not None
    ticket = desk.tickets[int(reference)]
    assert ticket.subject == "[memoguard #12] disk full on db-prod"
    assert ticket.status == "new"
    assert ticket.priority == "urgent"
    assert ticket.tags == ["memoguard", "severity-critical"]
    assert ticket.external_id == "memoguard-incident-12"
    (description,) = ticket.comments
    assert description.body == (
        "Incident #12 triggered\n\nSeverity: critical\nPolicy: critical\nState: triggered\n"
        "Link: http://memoguard.test/incidents/12"
    )

    acked = event(kind="acknowledged", state="acknowledged", by="bob")
    assert zendesk.send(message(acked, reference, number=2)) == reference
    assert ticket.status == "open"
    assert ticket.comments[-1].body == "Incident #12 acknowledged by bob"
    assert ticket.comments[-1].public is False

    assert zendesk.send(message(event(kind="resolved", state="resolved"), reference, number=3)) == reference
    assert ticket.status == "solved"
    assert len(ticket.comments) == 3
    assert len(desk.tickets) == 1
    assert [(request.method, request.path) for request in desk.requests] == [
        ("POST", "/api/v2/tickets.json"),
        ("PUT", f"/api/v2/tickets/{reference}.json"),
        ("PUT", f"/api/v2/tickets/{reference}.json"),
    ]


def test_a_triggered_update_leaves_the_status_alone(zendesk: ZendeskProvider, desk: Helpdesk) -> None:
    reference = zendesk.send(message(event(kind="acknowledged", state="acknowledged")))
    assert reference is not None
    assert desk.tickets[int(reference)].status == "open"

    zendesk.send(message(event(kind="triggered"), reference, number=2))

    assert desk.tickets[int(reference)].status == "open"
    assert len(desk.tickets[int(reference)].comments) == 2


@pytest.mark.parametrize(
    ("severity", "state", "priority", "status"),
    [
        ("major", "resolved", "high", "solved"),
        ("warning", "confirmed", "normal", "open"),
        ("info", "triggered", "normal", "new"),
    ],
)
def test_a_first_ticket_reflects_severity_and_state(
    zendesk: ZendeskProvider, desk: Helpdesk, severity: str, state: str, priority: str, status: str
) -> None:
    reference = zendesk.send(message(event(severity=severity, state=state, url=None)))

    assert reference is not None
    ticket = desk.tickets[int(reference)]
    assert (ticket.priority, ticket.status) == (priority, status)
    assert ticket.tags == ["memoguard", f"severity-{severity}"]
    assert "Link:" not in ticket.comments[0].body


def test_updating_a_deleted_ticket_is_permanent(zendesk: ZendeskProvider, desk: Helpdesk) -> None:
    error = failure(lambda: zendesk.send(message(event(kind="acknowledged"), reference="999")))

    assert not error.retryable
    assert error.retry_after is None
    assert "HTTP 404" in error.reason
    assert desk.statuses() == [404]


def test_past_the_minute_quota_the_provider_is_told_how_long_to_wait(clock: FakeClock) -> None:
    with Helpdesk(clock, per_minute=2) as desk:
        zendesk = ZendeskProvider("zendesk", desk.url, clock)
        zendesk.send(message(event(1)))
        zendesk.send(message(event(2), number=2))

        error = failure(lambda: zendesk.send(message(event(3), number=3)))

        # The fixed window ends at 10:01:00 and the clock reads 10:00:15.
        assert error.retryable
        assert error.retry_after == timedelta(seconds=45)
        assert desk.rejected == 1
        assert len(desk.tickets) == 2
        assert desk.statuses() == [201, 201, 429]

        clock.advance(timedelta(seconds=44))
        assert failure(lambda: zendesk.send(message(event(3), number=3))).retry_after == timedelta(seconds=1)
        clock.advance(timedelta(seconds=1))
        assert zendesk.send(message(event(3), number=3)) == "3"
        zendesk.close()


def test_the_day_quota_is_a_rolling_24_hours(clock: FakeClock) -> None:
    with Helpdesk(clock, per_day=2) as desk:
        zendesk = ZendeskProvider("zendesk", desk.url, clock)
        zendesk.send(message(event(1)))
        clock.advance(timedelta(hours=5))
        zendesk.send(message(event(2), number=2))
        clock.advance(timedelta(hours=1))

        # The first request ages out 24 h after it was made, 18 h from now.
        error = failure(lambda: zendesk.send(message(event(3), number=3)))
        assert error.retry_after == timedelta(hours=18)

        clock.advance(timedelta(hours=18))
        zendesk.send(message(event(3), number=3))
        assert failure(lambda: zendesk.send(message(event(4), number=4))).retry_after == timedelta(hours=5)
        assert desk.rejected == 2
        zendesk.close()


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [(500, None, None), (502, None, None), (503, None, None), (503, 7, timedelta(seconds=7))],
)
def test_server_errors_are_transient(
    zendesk: ZendeskProvider, desk: Helpdesk, status: int, retry_after: int | None, expected: timedelta | None
) -> None:
    desk.fail_next(1, status=status, retry_after=retry_after)

    error = failure(lambda: zendesk.send(message(event())))

    assert error.retryable
    assert error.retry_after == expected
    assert f"HTTP {status}" in error.reason
    assert desk.tickets == {}
    assert zendesk.send(message(event())) == "1"


def test_a_refused_connection_is_transient(clock: FakeClock) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    zendesk = ZendeskProvider("zendesk", f"http://127.0.0.1:{port}", clock, timeout=timedelta(seconds=2))

    error = failure(lambda: zendesk.send(message(event())))

    assert error.retryable
    assert "ConnectError" in error.reason
    assert failure(lambda: zendesk.poll("00ff", [message(event())])).retryable
    zendesk.close()


def test_the_idempotency_key_prevents_a_second_ticket(zendesk: ZendeskProvider, desk: Helpdesk) -> None:
    first = zendesk.send(message(event()))
    again = zendesk.send(message(event()))

    assert first == again == "1"
    assert list(desk.tickets) == [1]
    assert desk.statuses() == [201, 201]


def test_a_reused_idempotency_key_with_another_body_is_refused(zendesk: ZendeskProvider, desk: Helpdesk) -> None:
    zendesk.send(message(event(title="first")))

    error = failure(lambda: zendesk.send(message(event(title="second"))))

    assert not error.retryable
    assert "IdempotentRequestError" in error.reason
    assert len(desk.tickets) == 1


def test_basic_auth_with_the_api_token(clock: FakeClock) -> None:
    with Helpdesk(clock, email="ops@example.com", token="s3cret") as desk:
        anonymous = ZendeskProvider("zendesk", desk.url, clock)
        wrong = ZendeskProvider("zendesk", desk.url, clock, email="ops@example.com", token="guess")
        right = ZendeskProvider("zendesk", desk.url, clock, email="ops@example.com", token="s3cret")

        for provider in (anonymous, wrong):
            error = failure(lambda provider=provider: provider.send(message(event())))
            assert not error.retryable
            assert "HTTP 401" in error.reason
        assert right.send(message(event())) == "1"
        assert desk.statuses() == [401, 401, 201]
        for provider in (anonymous, wrong, right):
            provider.close()


def test_a_batch_of_100_is_one_job(clock: FakeClock) -> None:
    batch = [message(event(n, title="REJECT me" if n == 37 else f"alarm {n}"), number=n) for n in range(100)]
    with Helpdesk(clock, job_polls_until_done=2) as desk:
        zendesk = ZendeskProvider("zendesk", desk.url, clock)

        job = zendesk.submit(batch)

        assert desk.batch_sizes == [100]
        assert desk.tickets == {}
        assert zendesk.poll(job, batch) is None
        assert zendesk.poll(job, batch) is None
        outcomes = zendesk.poll(job, batch)
        assert outcomes is not None
        assert len(outcomes) == 100
        rejected = outcomes.pop(37)
        assert isinstance(rejected, DeliveryError)
        assert not rejected.retryable
        assert "TicketCreateFailed" in rejected.reason
        assert all(isinstance(outcome, str) for outcome in outcomes)
        # Each message gets the ticket made from it, not its neighbour's.
        for number, outcome in zip([n for n in range(100) if n != 37], outcomes, strict=True):
            assert desk.tickets[int(str(outcome))].external_id == f"memoguard-incident-{number}"
        assert len(desk.tickets) == 99
        assert [request.path for request in desk.requests] == [
            "/api/v2/tickets/create_many.json",
            *[f"/api/v2/job_statuses/{job}.json"] * 3,
        ]
        zendesk.close()


def test_a_batch_larger_than_the_provider_allows_is_refused_before_any_request(
    zendesk: ZendeskProvider, desk: Helpdesk
) -> None:
    with pytest.raises(ValueError, match="101"):
        zendesk.submit([message(event(n), number=n) for n in range(101)])
    with pytest.raises(ValueError, match="only ticket creations"):
        zendesk.submit([message(event(), reference="4")])
    with pytest.raises(ValueError):
        zendesk.submit([])
    with pytest.raises(ValueError):
        ZendeskProvider("zendesk", desk.url, FakeClock(), batch_size=101)

    assert desk.requests == []


def test_the_helpdesk_refuses_a_batch_over_its_maximum(clock: FakeClock) -> None:
    with Helpdesk(clock, max_batch=10) as desk:
        zendesk = ZendeskProvider("zendesk", desk.url, clock, batch_size=20)

        error = failure(lambda: zendesk.submit([message(event(n), number=n) for n in range(11)]))

        assert not error.retryable
        assert desk.violations == ["create_many with 11 tickets (max 10)"]
        assert desk.batch_sizes == []
        zendesk.close()


@pytest.mark.parametrize("ending", ["failed", "killed"])
def test_a_failed_job_leaves_every_message_to_retry(zendesk: ZendeskProvider, desk: Helpdesk, ending: Any) -> None:
    batch = [message(event(n), number=n) for n in range(3)]
    desk.end_next_job(ending)

    outcomes = zendesk.poll(zendesk.submit(batch), batch)

    assert outcomes is not None
    assert len(outcomes) == 3
    for outcome in outcomes:
        assert isinstance(outcome, DeliveryError)
        assert outcome.retryable
        assert ending in outcome.reason
    assert desk.tickets == {}


def test_a_forgotten_job_leaves_every_message_to_retry(zendesk: ZendeskProvider, desk: Helpdesk) -> None:
    batch = [message(event(n), number=n) for n in range(2)]
    job = zendesk.submit(batch)
    desk.forget_jobs()

    outcomes = zendesk.poll(job, batch)

    assert outcomes is not None
    assert [isinstance(outcome, DeliveryError) and outcome.retryable for outcome in outcomes] == [True, True]


def test_polling_past_the_quota_raises_for_the_whole_job(clock: FakeClock) -> None:
    with Helpdesk(clock, per_minute=1) as desk:
        zendesk = ZendeskProvider("zendesk", desk.url, clock)
        batch = [message(event())]
        job = zendesk.submit(batch)

        assert failure(lambda: zendesk.poll(job, batch)).retry_after == timedelta(seconds=45)
        clock.advance(timedelta(seconds=45))
        assert zendesk.poll(job, batch) == ["1"]
        zendesk.close()


def scripted(job_status: dict[str, Any], clock: FakeClock) -> ZendeskProvider:
    """A provider whose helpdesk answers every job poll with ``job_status``: for result shapes the
    helpdesk does not produce."""

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v2/job_statuses/ab12.json"
        return httpx.Response(200, json={"job_status": job_status})

    client = httpx.Client(transport=httpx.MockTransport(answer))
    return ZendeskProvider("zendesk", "http://helpdesk.test/", clock, client=client)


def kinds(outcomes: list[Outcome] | None) -> list[str]:
    assert outcomes is not None
    return [
        outcome
        if isinstance(outcome, str)
        else f"{'retry' if outcome.retryable else 'fail'}: {outcome.reason.split(': ', 1)[1]}"
        if isinstance(outcome, DeliveryError)
        else "none"
        for outcome in outcomes
    ]


def test_results_without_index_are_taken_in_order(clock: FakeClock) -> None:
    results = [{"id": 5}, {"error": "TicketCreateFailed", "details": "Subject: invalid"}]
    zendesk = scripted({"id": "ab12", "status": "completed", "results": results}, clock)

    outcomes = zendesk.poll("ab12", [message(event(n), number=n) for n in range(3)])

    assert kinds(outcomes) == [
        "5",
        "fail: ticket 1: TicketCreateFailed: Subject: invalid",
        "retry: missing from job results",
    ]


def test_indexed_results_map_to_their_message(clock: FakeClock) -> None:
    results = [{"index": 1, "id": 9}, {"index": 0, "id": "8"}, {"index": 7, "id": 1}, "garbage"]
    zendesk = scripted({"id": "ab12", "status": "completed", "results": results}, clock)

    outcomes = zendesk.poll("ab12", [message(event(n), number=n) for n in range(2)])

    assert kinds(outcomes) == ["8", "9"]


@pytest.mark.parametrize("job_status", [{"id": "ab12", "status": "exploded"}, {"id": "ab12"}])
def test_an_unknown_job_status_is_asked_again(clock: FakeClock, job_status: dict[str, Any]) -> None:
    zendesk = scripted(job_status, clock)

    assert failure(lambda: zendesk.poll("ab12", [message(event())])).retryable


def test_a_success_that_is_not_json_is_retried(clock: FakeClock) -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(201, text="<html>")))
    zendesk = ZendeskProvider("zendesk", "http://helpdesk.test", clock, client=client)

    error = failure(lambda: zendesk.send(message(event())))

    assert error.retryable
    assert "not a JSON object" in error.reason


def test_an_incomplete_event_is_permanent(zendesk: ZendeskProvider, desk: Helpdesk) -> None:
    broken = message(event())
    assert broken.event is not None
    del broken.event["incident"]["title"]
    bare = replace(broken, event=None)

    error = failure(lambda: zendesk.send(broken))

    assert not error.retryable
    assert "incident.title" in error.reason
    assert not failure(lambda: zendesk.send(bare)).retryable
    assert desk.requests == []


@pytest.mark.parametrize(
    ("body", "content_type", "complaint"),
    [
        (b"{not json", "application/json", "Invalid JSON"),
        (json.dumps({"ticket": {"subject": "s", "comment": {"body": "b"}, "priorty": "high"}}), None, "priorty"),
        (json.dumps({"ticket": {"subject": "", "comment": {"body": "b"}}}), None, "ticket.subject"),
        (json.dumps({"ticket": {"subject": "s", "comment": {"body": "b"}, "tags": ["a b"]}}), None, "tags"),
        (json.dumps({"ticket": {"subject": "s", "comment": {"body": "b"}}}), "text/plain", "Content-Type"),
    ],
)
def test_the_helpdesk_refuses_malformed_requests(
    desk: Helpdesk, body: str | bytes, content_type: str | None, complaint: str
) -> None:
    headers = {"Content-Type": content_type or "application/json"}
    response = httpx.post(f"{desk.url}/api/v2/tickets.json", content=body, headers=headers)

    assert response.status_code == 400
    assert complaint in response.json()["description"]
    assert desk.tickets == {}
