"""The zendesk provider: one helpdesk ticket per incident, created on its first event and updated after.

Creating goes through ``create_many`` when the dispatcher batches (one call for up to 100 tickets,
answered by an asynchronous job), or one POST with an ``Idempotency-Key`` otherwise. Every ticket
carries ``external_id = memoguard-incident-<id>``: a batch resubmitted after its job was lost can
create duplicates, and that is how a reader finds them. Updates are internal comments (``public:
false``), so the requester is not mailed on every acknowledgement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx

from memoguard.adapters.response import check, transport_error
from memoguard.services.clock import Clock
from memoguard.services.provider import DeliveryError, Message, Outcome

MAX_BATCH = 100  # Zendesk refuses create_many calls with more tickets

_PRIORITY = {"critical": "urgent", "major": "high", "error": "high", "high": "high", "warning": "normal"}
# A triggered event on an existing ticket leaves its status alone: it is new or open already.
_UPDATE_STATUS = {"acknowledged": "open", "confirmed": "open", "escalated": "open", "resolved": "solved"}
_CREATE_STATUS = {"acknowledged": "open", "confirmed": "open", "resolved": "solved"}
_RUNNING = {"queued", "working"}
_FAILED = {"failed", "killed"}


class ZendeskProvider:
    def __init__(
        self,
        name: str,
        url: str,
        clock: Clock,
        *,
        email: str | None = None,
        token: str | None = None,
        batch_size: int = MAX_BATCH,
        poll_every: timedelta = timedelta(seconds=2),
        timeout: timedelta = timedelta(seconds=10),
        client: httpx.Client | None = None,
    ) -> None:
        if (email is None) != (token is None):
            raise ValueError("give both email and token, or neither")
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}, not {batch_size}")
        self.name = name
        self.batch_size = batch_size
        self.poll_every = poll_every
        self._base = url.rstrip("/") + "/api/v2"
        self._clock = clock
        # Zendesk's API token convention: the user is "{email}/token", the password the token itself.
        self._auth = None if email is None or token is None else httpx.BasicAuth(f"{email}/token", token)
        # An injected client is only a transport (tests, shared pools): URL, auth and timeout go on
        # each request, and the caller closes it.
        self._owned = client is None
        self._client = client or httpx.Client(timeout=timeout.total_seconds())
        self._timeout = timeout.total_seconds()

    def send(self, message: Message) -> str | None:
        event = _event(message)
        if message.reference is None:
            what = f"zendesk create ticket for incident {message.incident}"
            body = self._call(
                "POST", "/tickets.json", what, {"ticket": _ticket(event)}, {"Idempotency-Key": message.key}
            )
            return _ticket_id(body, what)
        what = f"zendesk update ticket {message.reference}"
        update: dict[str, Any] = {"comment": {"body": str(event["text"]), "public": False}}
        status = _UPDATE_STATUS.get(str(event["event"]))
        if status is not None:
            update["status"] = status
        self._call("PUT", f"/tickets/{quote(message.reference, safe='')}.json", what, {"ticket": update})
        return message.reference

    def batchable(self, message: Message) -> bool:
        return message.reference is None

    def submit(self, messages: Sequence[Message]) -> str:
        # Both are dispatcher bugs: refuse them before anything reaches the helpdesk.
        if not 1 <= len(messages) <= self.batch_size:
            raise ValueError(f"{self.name}: a batch holds 1 to {self.batch_size} messages, not {len(messages)}")
        if any(not self.batchable(message) for message in messages):
            raise ValueError(f"{self.name}: only ticket creations can be batched")
        tickets = [_ticket(_event(message)) for message in messages]
        what = f"zendesk create_many ({len(tickets)} tickets)"
        body = self._call("POST", "/tickets/create_many.json", what, {"tickets": tickets})
        job = body.get("job_status")
        if not isinstance(job, Mapping) or not isinstance(job.get("id"), str | int):
            # The job may exist: retrying can duplicate tickets, which external_id makes findable,
            # whereas giving up would lose them.
            raise DeliveryError(f"{what}: answer without a job_status id", retryable=True)
        return str(job["id"])

    def poll(self, job: str, messages: Sequence[Message]) -> list[Outcome] | None:
        what = f"zendesk job {job}"
        path = f"/job_statuses/{quote(job, safe='')}.json"
        response = self._request("GET", path, what)
        if response.status_code == 404:
            # Zendesk forgets finished jobs after a while: the batch goes again.
            return [DeliveryError(f"{what}: job not found (HTTP 404)", retryable=True) for _ in messages]
        status = _json(response, self._clock, what).get("job_status")
        if not isinstance(status, Mapping):
            raise DeliveryError(f"{what}: answer without job_status", retryable=True)
        state = status.get("status")
        if state in _RUNNING:
            return None
        if state in _FAILED:
            reason = f"{what}: {state}: {status.get('message') or 'no reason given'}"
            return [DeliveryError(reason, retryable=True) for _ in messages]
        if state != "completed":
            raise DeliveryError(f"{what}: unknown job status {state!r}", retryable=True)
        return _outcomes(status.get("results"), len(messages), what)

    def close(self) -> None:
        if self._owned:
            self._client.close()

    def _call(
        self, method: str, path: str, what: str, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> Mapping[str, Any]:
        return _json(self._request(method, path, what, payload, headers), self._clock, what)

    def _request(
        self,
        method: str,
        path: str,
        what: str,
        payload: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        try:
            return self._client.request(
                method,
                self._base + path,
                json=payload,
                headers=headers,
                auth=self._auth or httpx.USE_CLIENT_DEFAULT,
                timeout=self._timeout,
            )
        except httpx.HTTPError as error:
            raise transport_error(error, what) from None


def _json(response: httpx.Response, clock: Clock, what: str) -> Mapping[str, Any]:
    check(response, clock.now(), what)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, Mapping):
        # A success we cannot read: the write may have happened, so only a retry (idempotent for
        # single creates and updates) settles it.
        raise DeliveryError(f"{what}: HTTP {response.status_code} but the answer is not a JSON object", retryable=True)
    return body


def _event(message: Message) -> Mapping[str, Any]:
    """The message's event, checked for the keys this provider reads: sending a broken one again
    would break the same way."""
    event = message.event
    incident = None if event is None else event.get("incident")
    if event is None or not isinstance(incident, Mapping):
        raise DeliveryError(f"message {message.id} carries no incident event", retryable=False)
    missing = [key for key in ("event", "text") if key not in event]
    missing += [f"incident.{key}" for key in ("id", "title", "severity", "state", "policy") if key not in incident]
    if missing:
        raise DeliveryError(f"message {message.id}: event lacks {', '.join(missing)}", retryable=False)
    return event


def _ticket(event: Mapping[str, Any]) -> dict[str, Any]:
    incident: Mapping[str, Any] = event["incident"]
    severity = str(incident["severity"]).lower()
    facts = [f"Severity: {severity}", f"Policy: {incident['policy']}", f"State: {incident['state']}"]
    if incident.get("url"):
        facts.append(f"Link: {incident['url']}")
    return {
        "subject": f"[memoguard #{incident['id']}] {incident['title']}",
        "comment": {"body": f"{event['text']}\n\n" + "\n".join(facts), "public": False},
        "priority": _PRIORITY.get(severity, "normal"),
        "status": _CREATE_STATUS.get(str(incident["state"]), "new"),
        # Zendesk splits tags on whitespace.
        "tags": ["memoguard", "severity-" + "_".join(severity.split())],
        "external_id": f"memoguard-incident-{incident['id']}",
    }


def _ticket_id(body: Mapping[str, Any], what: str) -> str:
    ticket = body.get("ticket")
    if not isinstance(ticket, Mapping) or not isinstance(ticket.get("id"), str | int):
        # Resending with the same Idempotency-Key returns the ticket if it was created.
        raise DeliveryError(f"{what}: answer without a ticket id", retryable=True)
    return str(ticket["id"])


def _outcomes(results: object, count: int, what: str) -> list[Outcome]:
    """One outcome per submitted ticket. Results name their ticket by ``index``; without one, they are
    taken in submission order."""
    outcomes: list[Outcome] = [DeliveryError(f"{what}: missing from job results", retryable=True) for _ in range(count)]
    for position, result in enumerate(results if isinstance(results, list) else []):
        if not isinstance(result, Mapping):
            continue
        index = result.get("index", position)
        if not isinstance(index, int) or not 0 <= index < count:
            continue
        if result.get("error") is not None:
            reason = f"{what}: ticket {index}: {result['error']}: {result.get('details') or 'no details'}"
            outcomes[index] = DeliveryError(reason, retryable=False)
        elif isinstance(result.get("id"), str | int):
            outcomes[index] = str(result["id"])
    return outcomes
