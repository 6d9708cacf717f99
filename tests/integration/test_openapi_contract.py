"""The whole HTTP API against its own OpenAPI document, with schemathesis, on every database.

uvicorn serves the real application on loopback (as in test_http.py); schemathesis reads /openapi.json and,
for every operation, sends requests the schema accepts (they must not be refused with a 422 or 400) and
requests it refuses (they must be refused), with the sources' tokens, and checks every answer: never a 5xx,
a documented status, content type and body. Examples are bounded and derandomized (Hypothesis's fixed
seed), so a run costs about the same each time and fails the same way twice.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode

from memoguard import bootstrap
from memoguard.adapters.storage.store import SqlStore
from memoguard.adapters.twilio import TwilioHook
from memoguard.http.app import create_app
from memoguard.http.auth import SESSION_COOKIE, Throttle
from memoguard.services.record import Alarm, AlarmStatus
from tests.conftest import FakeClock
from tests.integration.test_http import (
    ADMIN,
    ALARMS,
    ALERTMANAGER_URL,
    MONITORING,
    PROMETHEUS,
    personal_tokens,
    serving,
)
from tests.support.twilio import ACCOUNT_SID, AUTH_TOKEN

EXAMPLES = 25  # per operation, mode and run: 15 to 20 s a database on a 2-core machine

# Each ingestion route with the token of a source of its kind; the others with the admin's personal token.
TOKENS = {ALARMS: MONITORING, ALERTMANAGER_URL: PROMETHEUS}
OPSGENIE = {"Authorization": "GenieKey opsgenie-secret"}
HEARTBEAT = "/api/v1/heartbeats/{name}"  # with backup's token: a drawn name is refused (403), backup pings
TOKENS[HEARTBEAT] = {"Authorization": "Bearer backup-secret"}
TOKENS |= {
    f"/api/v1/integrations/opsgenie/v2/alerts{suffix}": OPSGENIE
    for suffix in ("", "/{identifier}/close", "/{identifier}/acknowledge")
}


TOKENS["/api/v1/integrations/grafana"] = {"Authorization": "Bearer grafana-secret"}
TOKENS["/api/v1/integrations/zabbix"] = {"Authorization": "Bearer zabbix-secret"}
# PagerDuty's Events API: the credential is the body's routing_key, put into every accepted case's body.
PAGERDUTY = "/api/v1/integrations/pagerduty/v2/enqueue"
TOKENS[PAGERDUTY] = {}
ROUTING_KEY = "pagerduty-secret"


@dataclass(frozen=True)
class Api:
    url: str
    incident: str  # an open incident, so that showing and acting get past their 404 too
    admin: dict[str, str]  # the Authorization header of the admin's personal token: the admin's actions
    # A responder's web session cookie without its CSRF token: reads pass, actions are refused (403). (A
    # responder's token would act: anyone may act on any incident as themself, so drawn bodies would
    # resolve the open incident.)
    bystander: dict[str, str]


@pytest.fixture
def api(service_dir: Path, fake_clock: FakeClock) -> Iterator[Api]:
    application = bootstrap.application(bootstrap.load(service_dir), fake_clock)
    try:
        alarm = Alarm("monitoring", "disk-db1", AlarmStatus.FIRING, "critical", "Disk full on db1")
        (receipt,) = application.ingest.submit([alarm]).result(timeout=30)
        assert receipt.incident is not None
        tokens = personal_tokens(application)
        # A twilio provider's webhooks, so that drawn requests reach its signature check (and are refused).
        hook = TwilioHook(
            "twilio", ACCOUNT_SID, AUTH_TOKEN, "https://memoguard.example.net", application.replies, fake_clock
        )
        served = dataclasses.replace(application, hooks={"twilio": hook})
        # Unthrottled: the refused cases' failed authentications would otherwise stop the accepted ones.
        unthrottled = Throttle(fake_clock, limit=10**9)
        with serving(create_app(served, lambda: True, throttle=unthrottled)) as url:
            carol = application.sessions.open("carol", "web session", None)
            yield Api(
                url,
                receipt.incident,
                {"Authorization": f"Bearer {tokens[ADMIN]}"},
                {"Cookie": f"{SESSION_COOKIE}={carol.secret}"},
            )
    finally:
        store = application.store
        assert isinstance(store, SqlStore)
        store.close()


def _explore(api: Api, operation: Any, mode: GenerationMode, fixed: dict[str, Any]) -> Counter[int]:
    """The statuses answered; raises at the first case whose answer breaks the contract (shrunk by then).
    ``fixed``: the parts of the request not drawn (``path_parameters``, ``body``: as_strategy's arguments)."""
    base_url = api.url
    person = api.admin if "body" in fixed else api.bystander  # drawn bodies must not resolve the incident
    headers: dict[str, Any] = dict(TOKENS.get(operation.path, person))
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    def check(case: schemathesis.Case) -> None:
        sent = headers
        drawn = {name.lower() for name in case.headers or {}}
        if mode is GenerationMode.NEGATIVE and operation.path not in TOKENS and "authorization" not in drawn:
            sent = {}  # the token is what this refused case leaves out (the person routes declare it required)
        if operation.path == PAGERDUTY and mode is GenerationMode.POSITIVE and isinstance(case.body, dict):
            case.body["routing_key"] = ROUTING_KEY  # a drawn key belongs to no source (a 400, as in PagerDuty)
        statuses[case.call_and_validate(base_url=base_url, headers=sent).status_code] += 1

    try:
        check()
    except Unsatisfiable:
        # Refused mode on an operation whose every input is valid (no parameters, a free path string).
        assert mode is GenerationMode.NEGATIVE, f"no case for {operation.label}"
    return statuses


def _failures(api: Api, mode: GenerationMode) -> list[str]:
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    found: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        # Every operation with what the generator draws; those on one incident, on the open one as well, and
        # actions by the admin as themself too (a drawn person is unknown: 403), so that they act and conflict.
        runs: list[dict[str, Any]] = [{}]
        if "{incident_id}" in operation.path:
            runs.append({"path_parameters": {"incident_id": api.incident}})
        if "{provider}" in operation.path:
            runs.append({"path_parameters": {"provider": "twilio"}})
        if operation.path == HEARTBEAT:
            runs.append({"path_parameters": {"name": "backup"}})
        if "{verb}" in operation.path and mode is GenerationMode.POSITIVE:
            runs.append({"path_parameters": {"incident_id": api.incident}, "body": {}})
        for fixed in runs:
            label = f"{mode.value} {operation.label}" + (f" with {fixed}" if fixed else "")
            try:
                statuses = _explore(api, operation, mode, fixed)
            except BaseException as error:  # schemathesis's FailureGroup is a BaseExceptionGroup
                if isinstance(error, KeyboardInterrupt | SystemExit):
                    raise
                found.append(f"{label}:\n{error}")
                continue
            # Valid requests must also get through: alarms stored, the open incident shown, the admin's actions.
            on_the_incident = bool(fixed) and (operation.method.upper() == "GET" or "body" in fixed)
            # A heartbeat ping gets through with its own name only (a drawn one belongs to no heartbeat).
            must_pass = (operation.path in TOKENS and (operation.path != HEARTBEAT or bool(fixed))) or on_the_incident
            if mode is GenerationMode.POSITIVE and must_pass and not statuses[200] + statuses[202]:
                found.append(f"{label}: never answered 200 or 202 ({dict(statuses)})")
    return found


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["accepted", "refused"])
def test_the_api_keeps_its_openapi_contract(api: Api, mode: GenerationMode) -> None:
    failures = _failures(api, mode)

    assert not failures, "\n\n".join(failures)
