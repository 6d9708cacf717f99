"""The maintenance windows of memoguard.yaml (``silences:``) as domain silences, cross-checked.

Kept out of the loader: a silence names sources like a route does (an unknown one is a problem at its
line), reads its time zone (memoguard.yaml's by default) and gets the id ``yaml:NAME``. Two silences of
one name are a problem at the second. Run-time silences (CLI, API) are stored in the database instead.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from memoguard.config.document import Document, Location
from memoguard.config.findings import Findings
from memoguard.config.schema import MainModel
from memoguard.domain.silence import Matcher, Silence, parse_every


def build_silences(found: Findings, main: MainModel, document: Document, zone: ZoneInfo) -> tuple[Silence, ...]:
    silences: list[Silence] = []
    seen: set[str] = set()
    for index, model in enumerate(main.silences):
        here: Location = ("silences", index)
        if model.name in seen:
            found.add(document, (*here, "name"), f"a second silence named {model.name!r}: names must be unique")
            continue
        seen.add(model.name)
        where = zone if model.timezone is None else found.zone(model.timezone, document, (*here, "timezone"))
        sources = _as_set(model.match.source)
        for source in sorted(sources - set(main.sources)):
            found.refer(document, (*here, "match", "source"), "source", source, main.sources)
        if where is None:
            continue
        matcher = Matcher(
            frozenset(sources), frozenset(_as_set(model.match.severity)), tuple(sorted(model.match.labels.items()))
        )
        silences.append(Silence(f"yaml:{model.name}", matcher, model.comment, every=parse_every(model.every, where)))
    return tuple(silences)


def _as_set(value: str | list[str] | None) -> set[str]:
    if value is None:
        return set()
    return {value} if isinstance(value, str) else set(value)
