"""What loading a configuration found wrong so far, and what it knows to be broken.

Shared by the loader and the builders of rosters and policies: problems are added at a location of a
document (and dropped when they are only the echo of something salvaging cut, see salvage.py), and a
reference to an unknown name is reported only when its definition is not itself broken.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from memoguard.config.document import Document, Location
from memoguard.config.problem import Problem
from memoguard.domain.errors import DomainError

ResultT = TypeVar("ResultT")


class Findings:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        # (kind, name) of what is defined but broken (a roster or policy whose file failed, a person or
        # provider cut from memoguard.yaml by its schema, a roster's level as "roster/level"): references
        # to them are not reported again as unknown, the operator already has the real problem in front
        # of them.
        self.broken: set[tuple[str, str]] = set()
        # Kinds of names nothing can be said about: memoguard.yaml could not be read at all.
        self.unknowable: set[str] = set()

    def names(self, what: str, loaded: Mapping[str, Any] | set[str]) -> set[str]:
        """Names defined in files, whether or not the file loaded: what an operator reads in the folder."""
        return set(loaded) | {name for kind, name in self.broken if kind == what}

    def add(self, document: Document, location: Location, message: str) -> None:
        if not document.around_cut(location):
            self.problems.append(document.problem(location, message))

    def refer(
        self, document: Document, location: Location, what: str, name: str, known: Mapping[str, Any] | set[str]
    ) -> bool:
        """Whether ``name`` is a known ``what``; when it is not, report it unless its definition is
        broken (reported in its own place) or nothing can be known about that kind of name."""
        if name in known:
            return True
        if what not in self.unknowable and (what, name) not in self.broken:
            self.add(document, location, unknown(what, name, self.names(what, known)))
        return False

    def attempt(self, document: Document, location: Location, build: Callable[[], ResultT]) -> ResultT | None:
        """Run a domain constructor; a DomainError or ValueError becomes a problem at ``location``."""
        try:
            return build()
        except (DomainError, ValueError) as error:
            self.add(document, location, str(error))
            return None

    def zone(self, name: str, document: Document, location: Location) -> ZoneInfo | None:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            self.add(document, location, f"unknown time zone {name!r}: expected an IANA name such as Europe/Paris")
            return None

    def phone(self, text: str, region: str | None, document: Document, location: Location) -> str | None:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            hint = "" if region else " (write it as +33…, or set phone_region for national numbers)"
            self.add(document, location, f"invalid phone number {text!r}{hint}")
            return None
        if not phonenumbers.is_valid_number(number):
            self.add(document, location, f"invalid phone number {text!r}: not a valid number for its country")
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def level_broken(self, roster: str, level: str) -> bool:
        return bool({("level", f"{roster}/{level}"), ("level", f"{roster}/*")} & self.broken)


def unknown(what: str, name: str, known: Mapping[str, Any] | set[str]) -> str:
    names = ", ".join(sorted(known)) or "none defined"
    return f"unknown {what} {name!r} (known: {names})"
