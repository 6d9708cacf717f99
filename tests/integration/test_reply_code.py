"""Reply-code allocation in the store (one SQL statement) against the domain's rule, ``next_code``, on
SQLite and PostgreSQL: the smallest code the number does not hold, 1 to 99, then 1000 and up."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memoguard.adapters.storage.sms import code_t
from memoguard.adapters.storage.store import SqlStore
from memoguard.config.model import Config
from memoguard.domain.incident import IncidentState
from memoguard.domain.reply import CODE_REUSE, next_code
from tests.integration.test_store import T0, new_incident

HOUR = timedelta(hours=1)
_numbers = itertools.count(1)
_held_codes = st.sets(st.one_of(st.integers(1, 99), st.integers(1000, 1006)), max_size=110)


def _phone() -> str:
    return f"+336{next(_numbers):08d}"


def _hold(store: SqlStore, config: Config, phone: str, codes: set[int]) -> None:
    """Give ``phone`` the codes, each on its own open incident, as earlier pages would have (written
    directly: the store only ever picks the smallest free code, so it cannot leave holes by itself)."""
    with store.write() as unit:
        incidents = {code: unit.create_incident(new_incident(config, key=f"{phone}-{code}")) for code in codes}
    rows = [
        {
            "phone": phone,
            "code": code,
            "incident_id": int(incident),
            "person": "alice",
            "created_at": T0,
            "expires_at": T0,
        }
        for code, incident in incidents.items()
    ]
    if rows:
        with store.engine.begin() as connection:
            connection.execute(code_t.insert(), rows)


def _allocate(store: SqlStore, config: Config, phone: str, key: str) -> int:
    with store.write() as unit:
        incident = unit.create_incident(new_incident(config, key=key))
        return unit.reply_code(phone, "alice", incident, T0, T0 + CODE_REUSE)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(codes=_held_codes)
def test_the_code_given_is_the_domain_rules_choice(store: SqlStore, config: Config, codes: set[int]) -> None:
    phone = _phone()
    _hold(store, config, phone, codes)
    assert _allocate(store, config, phone, f"{phone}-new") == next_code(codes)


def test_all_99_held_overflow_to_1000_then_fill_the_hole(store: SqlStore, config: Config) -> None:
    phone = _phone()
    _hold(store, config, phone, set(range(1, 100)) | {1000, 1002})
    assert _allocate(store, config, phone, "a") == 1001
    assert _allocate(store, config, phone, "b") == 1003


def test_a_code_is_free_again_72h_after_its_incident_was_resolved(store: SqlStore, config: Config) -> None:
    phone = _phone()
    _hold(store, config, phone, {1, 2})
    with store.write() as unit:
        [first] = [r for r in unit.incidents([], 100) if r.dedup_key == f"{phone}-1"]
        unit.save_incident(replace(first.incident, state=IncidentState.RESOLVED), T0)
    with store.write() as unit:
        incident = unit.create_incident(new_incident(config, key="soon"))
        assert unit.reply_code(phone, "alice", incident, T0 + 71 * HOUR, T0 + 71 * HOUR + CODE_REUSE) == 3
    with store.write() as unit:
        incident = unit.create_incident(new_incident(config, key="later"))
        assert unit.reply_code(phone, "alice", incident, T0 + 73 * HOUR, T0 + 73 * HOUR + CODE_REUSE) == 1
