"""What every importer shares: the error that names the file and what is wrong, the report of what did not
carry over, memoguard's names and E.164 numbers, and the writer of the configuration directory.

The writer takes YAML *text*, not models: the output is meant to be read and edited by the team that moves
in, so each object keeps a comment saying which object of the old tool it came from (provenance), which a
YAML dumper would drop. ``memoguard check`` (run by the tests on every importer's output) is what keeps
that text honest.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
SHORT = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
LAST_STEP = timedelta(minutes=15)  # how long the last step of a policy waits when the source says nothing


class ImportProblem(click.ClickException):
    """Input that cannot be read: named with its file (or URL) and what is wrong."""


@dataclass
class Report:
    """Every object or setting without an equivalent, with what was done instead (IMPORT-REPORT.md)."""

    vendor: str
    lost: list[str] = field(default_factory=list)

    def add(self, where: str, what: str, instead: str) -> None:
        self.lost.append(f"- **{where}**: {what}. Instead: {instead}.")

    def markdown(self) -> str:
        lines = [f"# Import report ({self.vendor})", ""]
        if not self.lost:
            lines.append("Everything carried over.")
        else:
            lines.append("These objects or settings did not carry over as they were:")
            lines.append("")
            lines += self.lost
        return "\n".join(lines) + "\n"


@dataclass
class Person:
    name: str
    source: str
    phone: str | None
    email: str | None
    channels: list[str]
    timezone: str | None = None
    language: str | None = None


def q(value: str) -> str:
    """A YAML scalar: JSON's double-quoted string is valid YAML."""
    return json.dumps(value, ensure_ascii=False)


def name(text: str, taken: set[str]) -> str:
    """A memoguard name (letters, digits, ``_.-``) from ``text``, made unique among ``taken``."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-._") or "x"
    if not base[0].isalnum():
        base = "x" + base
    found, number = base, 2
    while found in taken:
        found, number = f"{base}-{number}", number + 1
    taken.add(found)
    return found


def e164(country: str, number: str) -> str | None:
    """``+`` country code and number, digits only; None when that cannot be an E.164 number."""
    digits = re.sub(r"\D", "", country + number)
    return f"+{digits}" if number and 8 <= len(digits) <= 15 else None


def zone(text: str, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImportProblem(f"{where}: unknown time zone {text!r}") from None


def instant(text: Any, where: str) -> datetime:
    """An ISO 8601 instant with its offset (``Z`` accepted)."""
    try:
        found = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ImportProblem(f"{where}: {text!r} is not an ISO 8601 instant") from None
    if found.tzinfo is None:
        raise ImportProblem(f"{where}: {text!r} has no offset")
    return found


def hm(minutes: int) -> str:
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


def week_windows(spans: list[tuple[int, int]]) -> list[str]:
    """Weekly intervals ``(start, length)`` in minutes from Monday 00:00 as memoguard windows (flow
    mappings). An interval across midnight or across days is cut the way memoguard's windows run: a window
    whose ``to`` is at or before its ``from`` runs into the next day."""
    windows: list[str] = []
    for start, length in spans:
        if length >= 7 * 1440:
            return []
        end = start + length
        first, last = start // 1440 % 7, end // 1440 % 7
        start_hm, end_hm = hm(start % 1440), hm(end % 1440)
        span = end // 1440 - start // 1440
        if span == 0:
            windows.append(f'{{days: [{SHORT[first]}], from: "{start_hm}", to: "{end_hm}"}}')
            continue
        if span == 1 and end % 1440 <= start % 1440:
            to = f', to: "{end_hm}"' if end % 1440 else ""
            windows.append(f'{{days: [{SHORT[first]}], from: "{start_hm}"{to}}}')
            continue
        windows.append(
            f'{{days: [{SHORT[first]}], from: "{start_hm}"}}' if start % 1440 else f"{{days: [{SHORT[first]}]}}"
        )
        middle = [SHORT[(first + i) % 7] for i in range(1, span)]
        if middle:
            windows.append(f"{{days: [{', '.join(middle)}]}}")
        if end % 1440:
            windows.append(f'{{days: [{SHORT[last]}], to: "{end_hm}"}}')
    return windows


def minutes(delta: timedelta) -> str:
    return f"{max(1, int(delta.total_seconds() // 60))}m"


def shift(seconds: int) -> str:
    """A memoguard duration for a turn of ``seconds``: the largest unit that divides it."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{max(1, seconds // 60)}m"


def person_line(person: Person) -> str:
    fields = []
    if person.phone:
        fields.append(f"phone: {q(person.phone)}")
    if person.email:
        fields.append(f"email: {person.email}")
    if person.language:
        fields.append(f"language: {person.language}")
    if person.timezone:
        fields.append(f"timezone: {person.timezone}")
    if person.channels:
        fields.append(f"channels: [{', '.join(person.channels)}]")
    return f"  {person.name}: {{{', '.join(fields)}}}   # {person.source}"


@dataclass
class Written:
    """What an importer produced, before it is written: YAML text by file name."""

    people: list[Person]
    rosters: dict[str, str]
    policies: dict[str, str]
    sources: list[str]
    routes: list[str]


def write_config(output: Path, written: Written, report: Report, command: str, keep: str) -> None:
    """Write OUTPUT/memoguard.yaml, rosters/, escalation_policies/ and IMPORT-REPORT.md. ``keep`` is the
    folder of saved API answers that may already be in ``output`` (the API modes write it first)."""
    if not written.policies:
        raise ImportProblem("no escalation could be imported (memoguard needs a policy)")
    if output.exists() and any(path.name != keep for path in output.iterdir()):
        raise ImportProblem(f"{output}: not empty; give a new directory")
    (output / "rosters").mkdir(parents=True, exist_ok=True)
    (output / "escalation_policies").mkdir(exist_ok=True)
    main = [
        f"# Imported from {report.vendor} by `{command}`: see IMPORT-REPORT.md for what did not carry over.",
        "timezone: UTC",
        "people:",
        *(person_line(person) for person in written.people),
        "sources:",
        *written.sources,
        "routes:",
        *written.routes,
        "channels:",
        "  # The console provider prints pages: configure real SMS/voice/e-mail providers before going live.",
        "  sms: [console]",
        "  voice: [console]",
        "  email: [console]",
        "providers:",
        "  console: {kind: console}",
    ]
    (output / "memoguard.yaml").write_text("\n".join(main) + "\n", encoding="utf-8")
    for file, text in written.rosters.items():
        (output / "rosters" / f"{file}.yaml").write_text(text, encoding="utf-8")
    for file, text in written.policies.items():
        (output / "escalation_policies" / f"{file}.yaml").write_text(text, encoding="utf-8")
    (output / "IMPORT-REPORT.md").write_text(report.markdown(), encoding="utf-8")


def origin(output: Path, roster: str) -> str:
    """The provenance comment (first line) of a written roster."""
    path = output / "rosters" / f"{roster}.yaml"
    return path.read_text(encoding="utf-8").splitlines()[0] if path.is_file() else ""


def load_json(path: Path, required: bool = True) -> Any:
    """A saved API answer; None when it is missing and not required."""
    if not path.is_file():
        if required:
            raise ImportProblem(f"{path}: missing (a saved answer of the API, see --help)")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ImportProblem(f"{path}: not readable JSON ({error})") from None


def save_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def listing(document: Any, key: str, where: str) -> list[dict[str, Any]]:
    """``document[key]`` as a list of objects, or a clear error naming ``where``."""
    data = document.get(key) if isinstance(document, dict) else None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ImportProblem(f'{where}: expected the API\'s envelope {{"{key}": [ … ]}}')
    return data
