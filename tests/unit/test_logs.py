"""Structured logs (issue 19, engine/logs.py): JSON lines with the ids as keys, the journal's native
protocol through a real unix datagram socket, the choice ``auto`` makes, and the bad settings."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from memoguard.engine import logs
from memoguard.services.logfields import ids


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


def parse_journal(datagram: bytes) -> dict[str, str]:
    """The journal's native protocol read back: KEY=VALUE lines, or KEY, newline, length, bytes."""
    fields: dict[str, str] = {}
    rest = datagram
    while rest:
        line, _, after = rest.partition(b"\n")
        if b"=" in line:
            key, _, value = line.partition(b"=")
            fields[key.decode()] = value.decode()
            rest = after
        else:
            (size,) = struct.unpack("<Q", after[:8])
            fields[line.decode()] = after[8 : 8 + size].decode()
            assert after[8 + size : 9 + size] == b"\n"
            rest = after[9 + size :]
    return fields


def test_json_lines_carry_the_ids_as_keys(restore_root: None) -> None:
    stream = io.StringIO()
    logs.configure("json", "info", environ={}, stream=stream)
    log = logging.getLogger("memoguard.test")
    log.info("notification %d sent", 7, extra=ids("12", 7, "smpp-main", "alice", channel="sms"))
    log.debug("not shown at info")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("it failed", extra=ids(incident="12"))
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    first = lines[0]
    assert first["message"] == "notification 7 sent"
    assert first["level"] == "info" and first["logger"] == "memoguard.test"
    assert (first["incident_id"], first["notification_id"], first["provider"], first["person"], first["channel"]) == (
        "12",
        7,
        "smpp-main",
        "alice",
        "sms",
    )
    assert first["ts"].endswith("+00:00")
    assert lines[1]["level"] == "error" and "RuntimeError: boom" in lines[1]["exception"]
    assert lines[1]["incident_id"] == "12" and "notification_id" not in lines[1]


def test_text_appends_the_ids(restore_root: None) -> None:
    stream = io.StringIO()
    logs.configure("text", "info", environ={}, stream=stream)
    logging.getLogger("memoguard.test").warning("page failed", extra=ids("3", 9))
    assert stream.getvalue().rstrip().endswith("WARNING memoguard.test: page failed incident_id=3 notification_id=9")


def test_journald_through_a_real_datagram_socket(tmp_path: Path, restore_root: None) -> None:
    address = str(tmp_path / "journal.socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as journal:
        journal.bind(address)
        journal.settimeout(5)
        logs.configure("journald", "info", environ={}, stream=io.StringIO(), journal=address)
        log = logging.getLogger("memoguard.test")
        log.warning("incident %s: paged alice", "12", extra=ids("12", person="alice"))
        fields = parse_journal(journal.recv(65536))
        assert fields["MESSAGE"] == "incident 12: paged alice"
        assert fields["PRIORITY"] == "4" and fields["SYSLOG_IDENTIFIER"] == "memoguard"
        assert fields["INCIDENT_ID"] == "12" and fields["PERSON"] == "alice" and fields["LOGGER"] == "memoguard.test"
        try:
            raise ValueError("two\nlines")
        except ValueError:
            log.exception("failed")
        fields = parse_journal(journal.recv(65536))
        assert fields["MESSAGE"].startswith("failed\nTraceback") and "ValueError: two\nlines" in fields["MESSAGE"]
        assert fields["PRIORITY"] == "3"


def test_journald_without_its_socket_is_json_on_stderr(tmp_path: Path, restore_root: None) -> None:
    stream = io.StringIO()
    logs.configure("journald", "info", environ={}, stream=stream, journal=str(tmp_path / "none"))
    logging.getLogger("memoguard.test").info("hello", extra=ids("1"))
    assert json.loads(stream.getvalue())["incident_id"] == "1"


def test_a_journal_gone_after_the_start_falls_back_to_json(tmp_path: Path, restore_root: None) -> None:
    address = tmp_path / "journal.socket"
    stream = io.StringIO()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as journal:
        journal.bind(str(address))
        logs.configure("journald", "info", environ={}, stream=stream, journal=str(address))
    address.unlink()
    logging.getLogger("memoguard.test").info("still here")
    assert json.loads(stream.getvalue())["message"] == "still here"


def test_auto_picks_journald_when_stderr_is_the_journal_stream(tmp_path: Path) -> None:
    with (tmp_path / "stream").open("w") as stream:
        found = os.fstat(stream.fileno())
        matching = {"JOURNAL_STREAM": f"{found.st_dev}:{found.st_ino}"}
        assert logs.chosen_format("auto", matching, stream) == "journald"
        assert logs.chosen_format("auto", {"JOURNAL_STREAM": f"{found.st_dev}:{found.st_ino + 1}"}, stream) == "json"
        assert logs.chosen_format("auto", {"JOURNAL_STREAM": "garbage"}, stream) == "json"
        assert logs.chosen_format("auto", {}, stream) == "json"  # a file, not a terminal
        assert logs.chosen_format("text", matching, stream) == "text"  # an explicit format wins


def test_auto_is_text_on_a_terminal() -> None:
    primary, secondary = os.openpty()
    with os.fdopen(secondary, "w") as terminal:
        assert logs.chosen_format("auto", {}, terminal) == "text"
    os.close(primary)


def test_bad_settings_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown log format 'xml': expected one of auto, json, text, journald"):
        logs.configure("xml", "info", environ={}, stream=io.StringIO())
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        logs.configure("json", "loud", environ={}, stream=io.StringIO())


def test_ids_leave_out_what_is_not_given() -> None:
    assert ids() == {}
    assert ids(12, person="", provider="twilio") == {"incident_id": "12", "provider": "twilio"}


def test_an_e_mail_link_s_path_is_never_logged(restore_root: None) -> None:
    stream = io.StringIO()
    logs.configure("json", "debug", environ={}, stream=stream)
    access = logging.getLogger("uvicorn.access")
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/email/v1.12.abcdefSECRETMAC", "1.1", 200)
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/readyz", "1.1", 200)
    first, second = (json.loads(line)["message"] for line in stream.getvalue().splitlines())
    assert "SECRETMAC" not in first and '"GET /email/… HTTP/1.1" 200' in first
    assert '"GET /readyz HTTP/1.1" 200' in second
