"""A YAML file read into plain data, remembering the line of every key and list item."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from memoguard.config.problem import Problem

Location = tuple[str | int, ...]


@dataclass
class Document:
    """``data`` is what the file says; ``lines`` maps each location (keys and indexes) to its 1-based line.

    A document salvaged from a file that failed its schema (see salvage.py) has lost list items:
    ``renumbered`` maps each such list's location in the file to the file's index of each item left, so
    problems found in what was salvaged still name the file's own path and line."""

    file: str
    data: Any
    lines: dict[Location, int] = field(default_factory=dict)
    renumbered: dict[Location, list[int]] = field(default_factory=dict)
    cut: tuple[Location, ...] = ()  # locations in the file that salvaging removed from ``data``

    def around_cut(self, location: Sequence[str | int]) -> bool:
        """Whether ``location`` holds something salvaging cut: what is said about it then may only be
        the consequence of the cut (a double acknowledgement that lost its bad confirm_within)."""
        where = self.original(location)
        return any(cut[: len(where)] == where for cut in self.cut)

    def original(self, location: Sequence[str | int]) -> Location:
        """``location`` in ``data`` as the location in the file (the same unless list items were removed)."""
        result: Location = ()
        for part in location:
            kept = self.renumbered.get(result)
            index = kept[part] if isinstance(part, int) and kept is not None and 0 <= part < len(kept) else part
            result = (*result, index)
        return result

    def line(self, location: Sequence[str | int]) -> int:
        """Line of the deepest part of ``location`` the file has (a missing key points at its parent)."""
        location = self.original(location)
        for end in range(len(location), 0, -1):
            found = self.lines.get(tuple(location[:end]))
            if found is not None:
                return found
        return 1

    def problem(self, location: Sequence[str | int], message: str) -> Problem:
        return Problem(self.file, self.line(location), format_location(self.original(location)), message)


def format_location(location: Sequence[str | int]) -> str:
    """``('layers', 0, 'members', 2)`` → ``layers[0].members[2]``."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def read_document(path: Path, shown_as: str) -> tuple[Document | None, list[Problem]]:
    """Parse ``path``; on a syntax error or duplicate keys, return the problems instead."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, [Problem(shown_as, 0, "", f"cannot read file: {error}")]
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        return None, [Problem(shown_as, *_syntax_error(error))]
    document = Document(shown_as, None)
    problems: list[Problem] = []
    if node is not None:
        document.data = _convert(node, (), document, problems)
    return document, problems


def _syntax_error(error: yaml.YAMLError) -> tuple[int, str, str]:
    """Line, path and message of a syntax error. The context names where an unclosed construct
    starts: an unterminated quote is only detected at the end of the file, far from the mistake."""
    mark = getattr(error, "problem_mark", None)
    if mark is None:
        return 0, "", f"invalid YAML: {error}"
    reason = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    context_mark = getattr(error, "context_mark", None)
    if context and context_mark is not None:
        reason += f" ({context} that starts on line {context_mark.line + 1})"
    return mark.line + 1, "", f"invalid YAML at column {mark.column + 1}: {reason}"


def _convert(node: yaml.Node, location: Location, document: Document, problems: list[Problem]) -> Any:
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                key = str(key)
            here = (*location, str(key))
            if str(key) in result:
                first = document.lines[here]
                message = f"duplicate key: already defined on line {first}"
                problems.append(Problem(document.file, key_node.start_mark.line + 1, format_location(here), message))
                continue
            document.lines[here] = key_node.start_mark.line + 1
            result[str(key)] = _convert(value_node, here, document, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            document.lines[(*location, index)] = item.start_mark.line + 1
            items.append(_convert(item, (*location, index), document, problems))
        return items
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return str(node.value)
    # Timestamps and dates stay strings: the domain reads them in the roster's time zone, whereas
    # PyYAML would make "2026-12-24 18:00" a naive datetime in no zone at all.
    if node.tag == "tag:yaml.org,2002:timestamp":
        return str(node.value)
    # YAML 1.1 reads 18:00 as the base-60 number 1080 and NO (Norway) or "on" as booleans; keep
    # those as the text the operator wrote, as YAML 1.2 does.
    if node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") and ":" in node.value:
        return str(node.value)
    # An unquoted phone number (+33612345678, 0612345678) would lose its "+" or be read as octal.
    if node.tag == "tag:yaml.org,2002:int" and node.value[:1] in ("+", "0") and len(node.value) > 1:
        return str(node.value)
    if node.tag == "tag:yaml.org,2002:bool" and node.value.lower() not in ("true", "false"):
        return str(node.value)
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
