"""What is left of a file that failed its schema, so the rest of it can still be checked.

A file with an unknown key or a bad duration has been reported; but its cross-references (a roster
naming an unknown person, a policy naming an unknown roster) and the value checks the loader makes
(phone numbers, handoff weekdays…) would only show up once those are fixed, one round of fixing per
kind of mistake. Instead, every part pydantic refused is cut out of a copy of the data and the copy is
validated again, until it passes: a bad value goes (its default applies), and an object that cannot do
without it (a required key) goes in turn, up to the whole file when nothing valid is left.

What was cut is not reported again: only the original validation's problems are. The loader checks
what is left and skips references to whatever was cut (``removed``), which has its own problem already.
List items that are cut renumber the rest: the document remembers the file's indexes (see
Document.renumbered) so later problems name the file's path and line.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from memoguard.config.document import Document, Location
from memoguard.config.translation import data_location

ModelT = TypeVar("ModelT", bound=BaseModel)

# Each round cuts at least one part, so this only bounds pathological files (thousands of mistakes).
_ROUNDS = 50


@dataclass(frozen=True)
class Salvaged(Generic[ModelT]):
    model: ModelT
    document: Document  # the data left, its lines and paths still those of the file
    removed: tuple[Location, ...]  # locations in the file that were cut


def salvage(model: type[ModelT], document: Document) -> Salvaged[ModelT] | None:
    """The valid part of ``document`` as ``model``; None when nothing valid remains at the top."""
    data = copy.deepcopy(document.data)
    left = Document(document.file, data, document.lines)
    removed: list[Location] = []
    for _ in range(_ROUNDS):
        try:
            validated = model.model_validate(data)
            left.cut = tuple(removed)
            return Salvaged(validated, left, tuple(removed))
        except ValidationError as error:
            cuts: set[Location] = set()
            for detail in error.errors():
                location = data_location(detail["loc"], data, detail["type"])
                # A missing key cannot be cut: the object that needs it goes.
                cut = location[:-1] if detail["type"] == "missing" else location
                if not cut:
                    return None
                cuts.add(cut)
            for cut in _outermost(cuts):
                removed.append(left.original(cut))
                _remove(left, cut)
    return None


def _outermost(cuts: set[Location]) -> list[Location]:
    """The cuts not inside another, deepest first and, within a list, the last item first, so that no
    cut renumbers the path of one still to come."""
    kept = [cut for cut in cuts if not any(cut[: len(other)] == other for other in cuts if other != cut)]
    return sorted(kept, key=lambda cut: (len(cut), [_order(part) for part in cut]), reverse=True)


def _order(part: str | int) -> tuple[int, int, str]:
    return (1, part, "") if isinstance(part, int) else (0, 0, part)


def _remove(document: Document, location: Location) -> None:
    parent: Any = document.data
    for part in location[:-1]:
        parent = parent[part]
    last = location[-1]
    if isinstance(parent, list) and isinstance(last, int):
        kept = document.renumbered.setdefault(document.original(location[:-1]), list(range(len(parent))))
        del kept[last]
        del parent[last]
    elif isinstance(parent, dict):
        parent.pop(last, None)
