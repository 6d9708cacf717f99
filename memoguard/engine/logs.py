"""Where ``memoguard serve`` writes its log, and in which shape (issue 19): text, JSON lines or journald.

One line per event, with the ids of what it is about as fields: a line about an incident or a page
carries ``incident_id``, ``notification_id``, ``provider``, ``person`` (passed as ``extra=`` by the code
that logs), so ``jq 'select(.incident_id == 12)'`` or ``journalctl INCIDENT_ID=12`` finds everything
about incident 12 without parsing sentences. The formats (``logging.format`` in memoguard.yaml):

- ``text``: for a person at a terminal, the ids appended as ``key=value``;
- ``json``: one JSON object per line on stderr (a container's log collector, a file);
- ``journald``: the journal's native protocol, spoken directly (one datagram of fields to
  ``/run/systemd/journal/socket``, as sd_notify is: no library), so the ids are journal fields
  (``INCIDENT_ID=12``) and the level is the entry's ``PRIORITY``; without that socket, JSON on stderr;
- ``auto`` (the default): text on a terminal, journald when stderr is the journal's stream (systemd sets
  ``$JOURNAL_STREAM`` to its ``device:inode``), JSON lines otherwise.

Only the stdlib ``logging`` is used: every library's log (uvicorn's, too) comes out in the same shape.
Secrets never reach a log line: no caller passes tokens, reply addresses or link MACs, and the fields
taken from a record are the ``extra`` ones it was given, not its arguments.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

JOURNAL_SOCKET = "/run/systemd/journal/socket"
FORMATS = ("auto", "json", "text", "journald")
LEVELS = ("debug", "info", "warning", "error")
IDENTIFIER = "memoguard"
MAX_MESSAGE = 60_000  # bytes: a datagram must stay under the socket's limit (a traceback can be long)

# Attributes every LogRecord has: what is left on a record is what ``extra=`` gave it.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra=`` fields of a record (ids of incidents, notifications…), in a stable order.
    uvicorn's ``color_message`` (the same message with escape codes) is left out."""
    found = {
        key: value
        for key, value in record.__dict__.items()
        if key not in _STANDARD and not key.startswith("_") and key != "color_message"
    }
    return {key: found[key] for key in sorted(found)}


def _plain(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, the extra
    fields as keys, and ``exception`` (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            line.setdefault(key, _plain(value))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """``2026-12-03 10:00:00,123 INFO memoguard.services.ingest: incident 12 opened incident_id=12``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        fields = " ".join(f"{key}={value}" for key, value in extra_fields(record).items())
        return f"{text} {fields}" if fields else text


def journal_datagram(record: logging.LogRecord, message: str) -> bytes:
    """The record as the journal's native protocol: ``KEY=VALUE`` lines, and a value holding a newline
    (a traceback) as ``KEY``, newline, its length as 64-bit little-endian, the bytes, newline."""
    fields: dict[str, Any] = {
        "MESSAGE": message,
        "PRIORITY": _PRIORITY.get(record.levelno, 6),
        "SYSLOG_IDENTIFIER": IDENTIFIER,
        "LOGGER": record.name,
        "CODE_FILE": record.pathname,
        "CODE_LINE": record.lineno,
        "CODE_FUNC": record.funcName,
        "THREAD_NAME": record.threadName,
    }
    for key, value in extra_fields(record).items():
        name = "".join(c if c.isalnum() else "_" for c in key.upper()).lstrip("_")
        if name and name[0].isalpha():
            fields.setdefault(name, value)
    out = bytearray()
    for key, value in fields.items():
        data = str(value).encode("utf-8", "replace")
        if key == "MESSAGE" and len(data) > MAX_MESSAGE:
            data = data[:MAX_MESSAGE] + " […]".encode()
        if b"\n" in data:
            out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode() + b"=" + data + b"\n"
    return bytes(out)


class JournalHandler(logging.Handler):
    """Sends each record to the journal's socket; a record that cannot be sent goes to ``fallback``."""

    def __init__(self, address: str = JOURNAL_SOCKET, fallback: TextIO | None = None) -> None:
        super().__init__()
        self._address = address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._fallback = logging.StreamHandler(fallback or sys.stderr)
        self._fallback.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            self._socket.sendto(journal_datagram(record, message), self._address)
        except OSError:
            self._fallback.emit(record)  # the journal went away: the line is not lost, stderr has it
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        self._socket.close()
        super().close()


SECRET_PATHS = ("/email/",)  # an e-mail link's path is its signed token: whoever reads it can act


class RedactSecretPaths(logging.Filter):
    """uvicorn's access lines (``serve --log-level debug``) name each request's path: an e-mail link's
    path is the link itself (its MAC), so it is cut to its prefix."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) >= 3:
            path = str(args[2])
            for prefix in SECRET_PATHS:
                if path.startswith(prefix):
                    record.args = (*args[:2], prefix + "…", *args[3:])
        return True


def under_journal(environ: Mapping[str, str], stream: TextIO) -> bool:
    """Whether ``stream`` is the journal's stream: ``$JOURNAL_STREAM`` (``device:inode``) is its file's."""
    value = environ.get("JOURNAL_STREAM", "")
    device, sep, inode = value.partition(":")
    if not sep or not device.isdigit() or not inode.isdigit():
        return False
    try:
        found = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (found.st_dev, found.st_ino) == (int(device), int(inode))


def chosen_format(name: str, environ: Mapping[str, str], stream: TextIO) -> str:
    """``auto`` made concrete: text on a terminal, journald under the journal, JSON otherwise."""
    if name != "auto":
        return name
    if under_journal(environ, stream):
        return "journald"
    try:
        tty = stream.isatty()
    except (ValueError, AttributeError):
        tty = False
    return "text" if tty else "json"


def handler(name: str, environ: Mapping[str, str], stream: TextIO, journal: str = JOURNAL_SOCKET) -> logging.Handler:
    """The handler for format ``name`` (one of ``FORMATS``); journald without its socket is JSON."""
    if name not in FORMATS:
        raise ValueError(f"unknown log format {name!r}: expected one of {', '.join(FORMATS)}")
    chosen = chosen_format(name, environ, stream)
    if chosen == "journald" and Path(journal).exists():
        return JournalHandler(journal, stream)
    made = logging.StreamHandler(stream)
    made.setFormatter(TextFormatter() if chosen == "text" else JsonFormatter())
    return made


def configure(
    name: str,
    level: str,
    environ: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
    journal: str = JOURNAL_SOCKET,
) -> logging.Handler:
    """Route every log record (the root logger's) to one handler of format ``name`` at ``level``;
    returns that handler. Called again (a test, a second serve in one process), it replaces the first."""
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}: expected one of {', '.join(LEVELS)}")
    made = handler(name, os.environ if environ is None else environ, stream or sys.stderr, journal)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_memoguard", False)]:
        root.removeHandler(old)
        old.close()
    made.addFilter(RedactSecretPaths())
    made._memoguard = True  # type: ignore[attr-defined]
    root.addHandler(made)
    root.setLevel(level.upper())
    for chatty in ("apscheduler", "alembic"):
        # Their INFO lines (every sweep, every schema check) drown what operators need to see.
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
    for name_ in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn run with its own log configuration earlier in this process (a test, an embedding
        # program) gave its loggers handlers of their own that stop at them: theirs go to the root too.
        own = logging.getLogger(name_)
        for old in list(own.handlers):
            own.removeHandler(old)
        own.propagate = True
        own.setLevel(logging.NOTSET)
    return made
