"""The whole HTTP API against its own OpenAPI document, with schemathesis, on every database.

uvicorn serves the real application on loopback (as in test_http.py); schemathesis reads /openapi.json and,
for every operation, sends requests the schema accepts (they must not be refused with a 422 or 400) and
requests it refuses (they must be refused), with the sources' tokens, and checks every answer: never a 5xx,
a documented status, content type and body. Examples are bounded and derandomized (Hypothesis's fixed
seed), so a run costs about the same each time and fails the same way twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode

from memoguard import bootstrap
from memoguard.adapters.storage.store import SqlStore
from memoguard.http.app import create_app
from tests.conftest import FakeClock
from tests.integration.test_http import ALARMS, ALERTMANAGER_URL, MONITORING, PROMETHEUS, serving

EXAMPLES = 25  # per operation and mode: about 20 s a database on the reference machine

# Each ingestion route with the token of a source of its kind; the other routes take none.
TOKENS = {ALARMS: MONITORING, ALERTMANAGER_URL: PROMETHEUS}


@pytest.fixture
def base_url(service_dir: Path, fake_clock: FakeClock) -> Iterator[str]:
    application = bootstrap.application(bootstrap.load(service_dir), fake_clock)
    try:
        with serving(create_app(application, lambda: True)) as url:
            yield url
    finally:
        store = application.store
        assert isinstance(store, SqlStore)
        store.close()


def _explore(base_url: str, operation: Any, mode: GenerationMode) -> Counter[int]:
    """The statuses answered; raises at the first case whose answer breaks the contract (shrunk by then)."""
    headers: dict[str, Any] = dict(TOKENS.get(operation.path, {}))
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case) -> None:
        statuses[case.call_and_validate(base_url=base_url, headers=headers).status_code] += 1

    try:
        check()
    except Unsatisfiable:
        # Refused mode on an operation whose every input is valid (no parameters, a free path string).
        assert mode is GenerationMode.NEGATIVE, f"no case for {operation.label}"
    return statuses


def _failures(base_url: str, mode: GenerationMode) -> list[str]:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    found: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        try:
            statuses = _explore(base_url, operation, mode)
            if mode is GenerationMode.POSITIVE and operation.path in TOKENS and not statuses[200]:
                found.append(f"{operation.label}: no valid alarm was stored ({dict(statuses)})")
        except BaseException as error:  # schemathesis's FailureGroup is a BaseExceptionGroup
            if isinstance(error, KeyboardInterrupt | SystemExit):
                raise
            found.append(f"{mode.value} {operation.label}:\n{error}")
    return found


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["accepted", "refused"])
def test_the_api_keeps_its_openapi_contract(base_url: str, mode: GenerationMode) -> None:
    failures = _failures(base_url, mode)

    assert not failures, "\n\n".join(failures)
