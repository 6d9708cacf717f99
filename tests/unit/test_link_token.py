"""The signed tokens of e-mail acknowledgement links (services/link.py): what they bind, when they stop."""

from __future__ import annotations

from datetime import timedelta

import pytest

from memoguard.services.action import Verb
from memoguard.services.link import LinkError, Problem, Signer
from tests.conftest import T0

KEY = "0123456789abcdef0123456789abcdef"


def test_a_token_names_incident_person_action_step_and_expiry() -> None:
    signer = Signer(KEY, timedelta(hours=2))
    token = signer.sign("12", "alice", Verb.ESCALATE, 1, T0)
    assert "=" not in token and "/" not in token and "+" not in token  # base64url, unpadded: fits a path
    link = signer.read(token, T0 + timedelta(hours=1))
    assert (link.incident, link.person, link.verb, link.step, link.expires) == (
        "12",
        "alice",
        Verb.ESCALATE,
        1,
        T0 + timedelta(hours=2),
    )


def test_a_token_expires_at_its_ttl() -> None:
    signer = Signer(KEY, timedelta(hours=2))
    token = signer.sign("12", "alice", Verb.ACK, 0, T0)
    signer.read(token, T0 + timedelta(hours=2) - timedelta(seconds=1))
    with pytest.raises(LinkError) as caught:
        signer.read(token, T0 + timedelta(hours=2))
    assert caught.value.problem == Problem.EXPIRED
    assert "expired" in caught.value.reason


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.replace(
            t.split(".")[0], Signer(KEY, timedelta(hours=2)).sign("13", "alice", Verb.ACK, 0, T0).split(".")[0]
        ),
        lambda t: t.split(".")[0],
        lambda t: t + "x",
        lambda t: "é" + t,
        lambda t: t + "é",
        lambda t: "",
        lambda t: Signer("another key of enough length!!", timedelta(hours=2)).sign("12", "alice", Verb.ACK, 0, T0),
    ],
    ids=["other-payload", "no-mac", "longer-mac", "not-ascii", "mac-not-ascii", "empty", "other-key"],
)
def test_a_changed_token_is_not_valid(change: object) -> None:
    signer = Signer(KEY, timedelta(hours=2))
    token = signer.sign("12", "alice", Verb.ACK, 0, T0)
    assert callable(change)
    with pytest.raises(LinkError) as caught:
        signer.read(change(token), T0)
    assert caught.value.problem == Problem.MALFORMED


def test_a_short_key_or_a_ttl_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="the link secret is 5 bytes long: use at least 16"):
        Signer("short", timedelta(hours=1))
    with pytest.raises(ValueError, match="link_ttl must be positive"):
        Signer(KEY, timedelta(0))
