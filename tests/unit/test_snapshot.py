"""An incident's copy of its policy reads back exactly, in today's shape and in the first release's."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from memoguard.adapters.storage import snapshot
from memoguard.domain.policy import Policy, Step, Target

POLICY = Policy(
    "critical",
    (Step((Target.parse("person:alice"),), ("sms",), timedelta(minutes=5)),),
    notices=frozenset({"acknowledged", "resolved"}),
    outbound=("helpdesk", "hooks"),
)


def test_a_policy_reads_back_with_its_notices_and_outbound_providers() -> None:
    policy, rosters = snapshot.load(snapshot.dump(POLICY, ()))
    assert policy == POLICY
    assert rosters == ()


def test_a_format_1_copy_still_reads_with_no_notices_and_no_outbound() -> None:
    data = json.loads(snapshot.dump(POLICY, ()))
    data["format"] = 1
    del data["policy"]["notices"], data["policy"]["outbound"]
    policy, _ = snapshot.load(json.dumps(data))
    assert policy.notices == frozenset()
    assert policy.outbound == ()
    assert policy.steps == POLICY.steps


def test_an_unknown_format_is_refused() -> None:
    data = json.loads(snapshot.dump(POLICY, ()))
    data["format"] = 99
    with pytest.raises(ValueError, match="format 99 is not readable"):
        snapshot.load(json.dumps(data))
