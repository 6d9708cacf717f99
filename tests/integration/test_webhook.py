"""The webhook provider against a real HTTP receiver on loopback (tests/support/receiver.py).

Each answer the far side can give maps onto the dispatcher's contract: delivered, wait (429 and 503
with Retry-After), try again (5xx, refused connection, timeout) or give up (other 4xx, redirects).
Signatures are checked both by the receiver, as a real consumer would, and by hand.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from memoguard.adapters.webhook import USER_AGENT, WebhookProvider, signature, verify
from memoguard.domain.person import Person
from memoguard.services.provider import DeliveryError, Message
from tests.conftest import T0, FakeClock
from tests.support.receiver import ACCEPTED, FAILED, REJECTED, THROTTLED, Receiver

SECRET = "s3cret-key"
ALICE = Person("alice", phone="+33612345678", email="alice@example.org", language="fr")
EVENT: dict[str, Any] = {
    "version": 1,
    "event": "acknowledged",
    "at": "2026-11-17T10:03:00+00:00",
    "by": "bob",
    "text": "bob acknowledged",
    "incident": {
        "id": "12",
        "title": "db-prod down",
        "severity": "critical",
        "state": "acknowledged",
        "policy": "critical",
        "source": "prometheus",
        "opened_at": "2026-11-17T10:00:00+00:00",
        "step": 1,
        "acked_by": ["bob"],
        "confirmed_by": [],
        "url": None,
    },
}


def page(id: int = 7, *, text: str = "CRITICAL db-prod down. Reply 12a to ack", step: int | None = 0) -> Message:
    return Message(
        id=id,
        key=f"msg-{id}",
        incident="12",
        person=ALICE,
        channel="chat",
        purpose="page",
        subject="db-prod down",
        text=text,
        created_at=T0 - timedelta(seconds=5),
        step=step,
    )


def event_message(id: int = 8) -> Message:
    return Message(
        id=id,
        key=f"msg-{id}",
        incident="12",
        person=None,
        channel="webhook",
        purpose="webhook",
        subject="",
        text="",
        created_at=T0 - timedelta(seconds=5),
        event=EVENT,
    )


Factory = Callable[..., WebhookProvider]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def make(fake_clock: FakeClock) -> Iterator[Factory]:
    """Builds providers on the fake clock and closes them after the test."""
    made: list[WebhookProvider] = []

    def build(url: str, **options: Any) -> WebhookProvider:
        provider = WebhookProvider("hook", url, fake_clock, **options)
        made.append(provider)
        return provider

    yield build
    for provider in made:
        provider.close()


def refusal(provider: WebhookProvider, message: Message) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        provider.send(message)
    return caught.value


# --- what goes on the wire -------------------------------------------------------------------------


def test_page_body_and_headers(receiver: Receiver, make: Factory) -> None:
    reference = make(receiver.url).send(page())

    [request] = receiver.requests()
    assert request.outcome == ACCEPTED
    assert reference == "1"  # the receiver's {"id": "1"}
    assert request.json == {
        "version": 1,
        "id": 7,
        "key": "msg-7",
        "kind": "page",
        "incident": "12",
        "created_at": "2026-11-17T09:59:55+00:00",
        "sent_at": "2026-11-17T10:00:00+00:00",
        "person": {"name": "alice", "phone": "+33612345678", "email": "alice@example.org", "language": "fr"},
        "channel": "chat",
        "subject": "db-prod down",
        "text": "CRITICAL db-prod down. Reply 12a to ack",
        "step": 1,
    }
    # Compact, sorted, UTF-8: the exact bytes a receiver hashes are reproducible from the document.
    assert request.body == json.dumps(request.json, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("memoguard/")
    assert request.headers["Idempotency-Key"] == "msg-7"
    assert "X-Memoguard-Signature" not in request.headers
    assert "X-Memoguard-Timestamp" not in request.headers


def test_page_outside_escalation_steps_has_a_null_step(receiver: Receiver, make: Factory) -> None:
    make(receiver.url).send(page(step=None))
    make(receiver.url).send(page(step=2))

    assert [body["step"] for body in receiver.bodies()] == [None, 3]


def test_event_body(receiver: Receiver, make: Factory, fake_clock: FakeClock) -> None:
    fake_clock.advance(timedelta(minutes=3))

    make(receiver.url).send(event_message())

    [body] = receiver.bodies()
    assert body == {
        "version": 1,
        "id": 8,
        "key": "msg-8",
        "kind": "webhook",
        "incident": "12",
        "created_at": "2026-11-17T09:59:55+00:00",
        "sent_at": "2026-11-17T10:03:00+00:00",
        "event": EVENT,
    }


def test_non_ascii_text_round_trips(receiver: Receiver, make: Factory) -> None:
    zoe = Person("Zoé", language="fr")
    message = Message(1, "k-1", "12", zoe, "chat", "status", "Alerte résolue", "é → acquittée", T0)

    make(receiver.url).send(message)

    [request] = receiver.requests()
    assert request.json["person"]["name"] == "Zoé"
    assert request.json["subject"] == "Alerte résolue"
    assert request.json["text"] == "é → acquittée"
    assert "é → acquittée".encode() in request.body  # raw UTF-8, not \u escapes


def test_same_message_twice_carries_the_same_idempotency_key(
    receiver: Receiver, make: Factory, fake_clock: FakeClock
) -> None:
    provider = make(receiver.url)
    provider.send(page(7))
    fake_clock.advance(timedelta(seconds=30))
    provider.send(page(7))
    provider.send(page(9))

    assert receiver.keys() == ["msg-7", "msg-7", "msg-9"]
    first, again, _ = receiver.bodies()
    assert (first["id"], first["key"]) == (again["id"], again["key"])
    assert first["sent_at"] != again["sent_at"]  # only the attempt's own time changes


def test_message_without_person_or_event_is_refused_before_sending(receiver: Receiver, make: Factory) -> None:
    empty = Message(3, "k-3", "12", None, "webhook", "webhook", "", "", T0)

    error = refusal(make(receiver.url), empty)

    assert not error.retryable
    assert receiver.requests() == []


# --- signatures ------------------------------------------------------------------------------------


def test_signed_request_verifies_with_the_secret(make: Factory, fake_clock: FakeClock) -> None:
    with Receiver(secret=SECRET, clock=fake_clock) as receiver:
        make(receiver.url, secret=SECRET).send(page())
        [request] = receiver.requests()

    assert request.outcome == ACCEPTED
    timestamp = request.headers["X-Memoguard-Timestamp"]
    assert timestamp == str(int(T0.timestamp()))
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Memoguard-Signature"] == f"sha256={expected}"


@pytest.mark.parametrize("secret", ["another-secret", None], ids=["wrong secret", "unsigned"])
def test_receiver_rejects_a_bad_signature(make: Factory, fake_clock: FakeClock, secret: str | None) -> None:
    with Receiver(secret=SECRET, clock=fake_clock) as receiver:
        error = refusal(make(receiver.url, secret=secret), page())

    assert not error.retryable  # 401: sending the same thing again would be refused again
    assert "HTTP 401" in error.reason
    assert receiver.rejected == 1
    assert receiver.bodies() == []


def test_receiver_rejects_a_stale_request(make: Factory, fake_clock: FakeClock) -> None:
    # The receiver's clock runs 6 minutes ahead of the sender's: the request looks like a replay.
    later = FakeClock(T0 + timedelta(minutes=6))
    with Receiver(secret=SECRET, clock=later) as receiver:
        refusal(make(receiver.url, secret=SECRET), page())

    assert [request.outcome for request in receiver.requests()] == [REJECTED]


def test_signature_covers_timestamp_and_body() -> None:
    body = b'{"id":1}'
    expected = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()

    assert signature("k", "1700000000", body) == f"sha256={expected}"
    assert signature("k", "1700000001", body) != signature("k", "1700000000", body)


class TestVerify:
    body = '{"text":"é"}'.encode()
    timestamp = str(int(T0.timestamp()))
    header = signature(SECRET, timestamp, body)

    def test_valid(self) -> None:
        assert verify(SECRET, self.timestamp, self.body, self.header, T0)

    def test_wrong_secret(self) -> None:
        assert not verify("another-secret", self.timestamp, self.body, self.header, T0)

    def test_tampered_body(self) -> None:
        assert not verify(SECRET, self.timestamp, self.body.replace(b"\xc3\xa9", b"e"), self.header, T0)

    def test_timestamp_swapped_for_a_fresh_one(self) -> None:
        fresh = str(int(T0.timestamp()) + 600)
        assert not verify(SECRET, fresh, self.body, self.header, T0 + timedelta(minutes=10))

    def test_tolerance_edges(self) -> None:
        assert verify(SECRET, self.timestamp, self.body, self.header, T0 + timedelta(minutes=5))
        assert not verify(SECRET, self.timestamp, self.body, self.header, T0 + timedelta(minutes=5, seconds=1))
        assert not verify(SECRET, self.timestamp, self.body, self.header, T0 - timedelta(minutes=5, seconds=1))
        assert verify(SECRET, self.timestamp, self.body, self.header, T0 + timedelta(hours=1), timedelta(hours=2))

    @pytest.mark.parametrize(
        ("timestamp", "header"),
        [
            (None, header),
            (timestamp, None),
            ("", header),
            ("-1", header),
            ("1.5", header),
            ("99999999999999999999999999", header),
            (timestamp, header.upper()),
            (timestamp, header.removeprefix("sha256=")),
            (timestamp, "sha256=é"),
        ],
    )
    def test_malformed_headers_are_invalid_not_errors(self, timestamp: str | None, header: str | None) -> None:
        assert not verify(SECRET, timestamp, self.body, header, T0)


# --- answers and failures --------------------------------------------------------------------------


def test_429_with_retry_after_asks_to_wait_that_long(receiver: Receiver, make: Factory) -> None:
    receiver.fail(429, retry_after=30)

    error = refusal(make(receiver.url), page())

    assert error.retryable
    assert error.retry_after == timedelta(seconds=30)
    assert "HTTP 429" in error.reason


def test_rate_limited_receiver_throttles_with_retry_after(make: Factory) -> None:
    with Receiver(limit=(2, 60.0)) as receiver:
        provider = make(receiver.url)
        provider.send(page(1))
        provider.send(page(2))
        error = refusal(provider, page(3))

    assert error.retry_after is not None
    assert timedelta(seconds=1) <= error.retry_after <= timedelta(seconds=60)
    assert (receiver.throttled, len(receiver.accepted())) == (1, 2)


@pytest.mark.parametrize(("retry_after", "wait"), [(None, None), (7, timedelta(seconds=7))])
def test_503_is_retryable(receiver: Receiver, make: Factory, retry_after: int | None, wait: timedelta | None) -> None:
    receiver.fail(503, retry_after=retry_after)

    error = refusal(make(receiver.url), page())

    assert error.retryable
    assert error.retry_after == wait


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422, 301])
def test_client_errors_and_redirects_are_permanent(receiver: Receiver, make: Factory, status: int) -> None:
    receiver.fail(status)

    error = refusal(make(receiver.url), page())

    assert not error.retryable
    assert error.retry_after is None
    assert f"HTTP {status}" in error.reason


def test_redirects_are_not_followed(receiver: Receiver, make: Factory) -> None:
    # Following one would re-POST the signed body wherever the redirect points.
    receiver.fail(307, headers={"Location": f"{receiver.url}/elsewhere"})

    error = refusal(make(receiver.url), page())

    assert not error.retryable
    assert [request.path for request in receiver.requests()] == ["/hook"]


def test_injected_failures_run_out(receiver: Receiver, make: Factory) -> None:
    receiver.fail(503, times=2)
    provider = make(receiver.url)

    assert refusal(provider, page()).retryable
    assert refusal(provider, page()).retryable
    assert provider.send(page()) == "3"
    assert [request.outcome for request in receiver.requests()] == [FAILED, FAILED, ACCEPTED]


def test_receiver_down_refuses_connections_then_comes_back(receiver: Receiver, make: Factory) -> None:
    provider = make(receiver.url)
    provider.send(page(1))  # leaves a keep-alive connection in the client's pool
    receiver.down()

    error = refusal(provider, page(2))

    assert error.retryable
    assert error.retry_after is None
    assert "ConnectError" in error.reason
    receiver.up()
    provider.send(page(2))
    assert receiver.keys() == ["msg-1", "msg-2"]


def test_nothing_listening_is_retryable(make: Factory) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    assert refusal(make(f"http://127.0.0.1:{port}/hook"), page()).retryable


def test_no_answer_within_the_timeout_is_retryable(make: Factory) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        provider = make(f"http://127.0.0.1:{port}/hook", timeout=timedelta(milliseconds=200))
        started = time.monotonic()
        error = refusal(provider, page())
        elapsed = time.monotonic() - started

    assert elapsed < 3  # the provider's timeout, not httpx's default nor forever
    assert error.retryable
    assert "Timeout" in error.reason


def test_error_reason_names_the_host_not_the_path(receiver: Receiver, make: Factory) -> None:
    receiver.fail(404)

    error = refusal(make(f"{receiver.url}/T0KEN-in-path"), page())

    assert "webhook POST 127.0.0.1" in error.reason
    assert "T0KEN" not in error.reason


# --- references, construction, closing -------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "content", "reference"),
    [
        ({"X-Request-Id": "req-abc"}, b'{"id": "body-id"}', "req-abc"),
        ({}, b'{"id": "body-id"}', "body-id"),
        ({}, b'{"id": 42}', "42"),
        ({}, b'{"id": true}', None),
        ({}, b'[{"id": "x"}]', None),
        ({}, b"ok", None),
        ({}, b"", None),
    ],
)
def test_reference_from_the_answer(
    make: Factory, headers: dict[str, str], content: bytes, reference: str | None
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, headers=headers, content=content)

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        assert make("https://hooks.example.org/x", client=client).send(page()) == reference


def test_closing_leaves_an_injected_client_open(receiver: Receiver, make: Factory) -> None:
    with httpx.Client() as client:
        make(receiver.url, client=client).close()

        assert not client.is_closed


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("ftp://hooks.example.org/x", {}),
        ("hooks.example.org/x", {}),
        ("https://hooks.example.org/x", {"secret": ""}),
    ],
)
def test_bad_configuration_is_refused_at_construction(fake_clock: FakeClock, url: str, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="webhook hook"):
        WebhookProvider("hook", url, fake_clock, **options)


# --- the receiver's own arithmetic -----------------------------------------------------------------


def arrivals(times: list[float]) -> Callable[[], float]:
    pending = iter(times)
    return lambda: next(pending)


def test_max_in_window_on_hand_made_arrival_times(make: Factory) -> None:
    times = [0.0, 0.5, 1.0, 1.0, 2.5, 3.0, 10.0]
    with Receiver(now=arrivals(times)) as receiver:
        provider = make(receiver.url)
        for n in range(len(times)):
            provider.send(page(n))

    assert [request.at for request in receiver.requests()] == times
    assert receiver.max_in_window(1.0) == 4  # closed window [0, 1]
    assert receiver.max_in_window(timedelta(seconds=1)) == 4
    assert receiver.max_in_window(0.5) == 3  # [0.5, 1]
    assert receiver.max_in_window(0.25) == 2  # the two arrivals at 1.0
    assert receiver.max_in_window(2.0) == 4  # [0, 2], [0.5, 2.5] and [1, 3] all hold four
    assert receiver.max_in_window(100.0) == 7


def test_max_in_window_counts_accepted_requests_only(make: Factory) -> None:
    with Receiver(now=arrivals([0.0, 0.25, 0.5])) as receiver:
        provider = make(receiver.url)
        provider.send(page(1))
        receiver.fail(503)
        refusal(provider, page(2))
        provider.send(page(3))

    assert receiver.max_in_window(1.0) == 2
    assert receiver.max_in_window(0.0) == 1


def test_limit_holds_over_closed_sliding_windows(make: Factory) -> None:
    with Receiver(limit=(2, 1.0), now=arrivals([0.0, 0.25, 0.5, 1.0, 1.125, 1.25, 3.5])) as receiver:
        provider = make(receiver.url)
        outcomes = []
        for n in range(7):
            try:
                provider.send(page(n))
                outcomes.append(ACCEPTED)
            except DeliveryError as error:
                outcomes.append(f"wait {error.retry_after}")

    # 0.5: full (0, 0.25); 1.0: 0 is still inside [0, 1]; 1.125: only 0.25 left, so let through;
    # 1.25: 0.25 is inside [0.25, 1.25] again.
    assert outcomes == [ACCEPTED, ACCEPTED, "wait 0:00:01", "wait 0:00:01", ACCEPTED, "wait 0:00:01", ACCEPTED]
    assert receiver.throttled == 3
    assert receiver.count(THROTTLED) == 3
    assert receiver.max_in_window(1.0) == 2


def test_wait_for_is_bounded(receiver: Receiver, make: Factory) -> None:
    make(receiver.url).send(page())

    assert receiver.wait_for(1, timeout=1.0)
    assert not receiver.wait_for(2, timeout=0.05)
