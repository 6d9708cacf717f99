"""The SMS reply grammar (memoguard/domain/reply.py): what a half-awake person may type, in French or
English, and what is not a command."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memoguard.domain.reply import (
    Command,
    ReplyVerb,
    Unparsed,
    next_code,
    parse_reply,
)

ACK, CONFIRM, RESOLVE, ESCALATE = ReplyVerb.ACK, ReplyVerb.CONFIRM, ReplyVerb.RESOLVE, ReplyVerb.ESCALATE


@pytest.mark.parametrize(
    ("text", "verb", "code"),
    [
        ("3a", ACK, 3),
        ("3A", ACK, 3),
        ("3 a", ACK, 3),
        ("a 3", ACK, 3),
        ("a3", ACK, 3),
        ("ack 3", ACK, 3),
        ("ACK 3", ACK, 3),
        ("ok 3", ACK, 3),
        ("Ok 3.", ACK, 3),
        ("acq 3", ACK, 3),
        ("acquitte 3", ACK, 3),
        ("Acquitté 3", ACK, 3),
        ("ack #3", ACK, 3),
        ("#3a", ACK, 3),
        ("3 ack", ACK, 3),
        ("  12a  ", ACK, 12),
        ("3c", CONFIRM, 3),
        ("conf 3", CONFIRM, 3),
        ("confirmé 3", CONFIRM, 3),
        ("3r", RESOLVE, 3),
        ("res 3", RESOLVE, 3),
        ("Résolu 3 !", RESOLVE, 3),
        ("3e", ESCALATE, 3),
        ("esc 3", ESCALATE, 3),
        ("escalade 3", ESCALATE, 3),
        ("100a", ACK, 100),
        ("1000a", ACK, 1000),
    ],
)
def test_commands_with_a_code(text: str, verb: ReplyVerb, code: int) -> None:
    assert parse_reply(text) == Command(verb, code)


@pytest.mark.parametrize("text", ["a", "A", "ack", "OK", "ok!", "acq", "Acquitté"])
def test_a_bare_acknowledgement(text: str) -> None:
    assert parse_reply(text) == Command(ACK)


@pytest.mark.parametrize(
    ("text", "verb"),
    [("STOP", ReplyVerb.STOP), ("stop", ReplyVerb.STOP), ("Arrêt", ReplyVerb.STOP), ("START", ReplyVerb.START)],
)
def test_stop_and_start(text: str, verb: ReplyVerb) -> None:
    assert parse_reply(text) == Command(verb)


@pytest.mark.parametrize(
    "text",
    ["", "hello", "0a", "3x", "c", "r", "e", "conf", "3", "a b", "12 a please", "3a 4a", "1234567a", "stop 3"],
)
def test_what_is_not_a_command(text: str) -> None:
    parsed = parse_reply(text)
    assert isinstance(parsed, Unparsed)
    assert parsed.text == " ".join(text.split())


def test_an_unparsed_text_is_kept_short_and_on_one_line() -> None:
    parsed = parse_reply("line one\nline two " + "x" * 1000)
    assert isinstance(parsed, Unparsed)
    assert parsed.text.startswith("line one line two x") and len(parsed.text) == 160


def test_bundle_codes_are_told_apart() -> None:
    assert Command(ACK, 100).bundle and Command(ACK, 999).bundle
    assert not Command(ACK, 99).bundle and not Command(ACK, 1000).bundle and not Command(ACK).bundle


def test_next_code_fills_holes_then_skips_the_bundle_range() -> None:
    assert next_code(set()) == 1
    assert next_code({1, 2, 4}) == 3
    assert next_code(set(range(1, 100))) == 1000
    assert next_code(set(range(1, 100)) | {1000, 1001}) == 1002


@given(st.text(max_size=300))
def test_any_text_parses_to_a_command_or_unparsed_without_error(text: str) -> None:
    parsed = parse_reply(text)
    assert isinstance(parsed, Command | Unparsed)
    if isinstance(parsed, Command) and parsed.code is not None:
        assert parsed.code > 0
