"""Turning pydantic's validation errors into problems an operator can act on: file, line, path, message."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from memoguard.config.document import Document, Location
from memoguard.config.problem import Problem

_ABSENT = object()
_SECRET_WORDS = ("password", "token", "auth_token", "secret", "api_key", "apikey")


def translate(error: ValidationError, document: Document, model: type[BaseModel]) -> list[Problem]:
    """One problem per pydantic error, located in the file."""
    problems = []
    for detail in error.errors():
        location = data_location(detail["loc"], document.data, detail["type"])
        problems.append(document.problem(location, _message(detail, location, document.data, model)))
    return problems


def data_location(loc: Sequence[str | int], data: Any, kind: str) -> Location:
    """Keep the parts of pydantic's location that exist in the data (dropping union tags and the like);
    a missing or unknown key, always last, is kept so the path names it."""
    location: list[str | int] = []
    current = data
    for position, part in enumerate(loc):
        child = _child_value(current, part)
        if child is not _ABSENT:
            current = child
        elif not (position == len(loc) - 1 and kind in ("missing", "extra_forbidden")):
            continue
        location.append(part)
    return tuple(location)


def _child_value(value: Any, part: str | int) -> Any:
    if isinstance(value, dict) and part in value:
        return value[part]
    if isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
        return value[part]
    return _ABSENT


def _message(detail: ErrorDetails, location: Location, data: Any, model: type[BaseModel]) -> str:
    kind = detail["type"]
    received = detail.get("input")
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return _unknown_key(location, data, model)
    if kind == "value_error":
        return str(detail.get("ctx", {}).get("error", detail["msg"]))
    if kind == "union_tag_invalid":
        context = detail.get("ctx", {})
        if location[:1] == ("providers",):
            return (
                f"provider kind {context.get('tag')!r} is not available in this build "
                f"(kinds it has: {context.get('expected_tags')})"
            )
        return f"unknown kind {context.get('tag')!r} (expected one of: {context.get('expected_tags')})"
    if kind == "union_tag_not_found":
        return "required key 'kind' is missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        # pydantic would say "a valid dictionary or instance of PersonModel": name no class to an operator.
        return f"expected a mapping of keys to values, got {received!r}"
    if kind in ("too_short",) and isinstance(received, (list, dict)) and not received:
        return "must not be empty"
    if kind == "string_pattern_mismatch":
        field = str(location[-1]) if location else ""
        if field == "email":
            return f"invalid e-mail address {received!r}"
        return f"invalid name {received!r}: use letters, digits, '-', '_' and '.'"
    if kind.endswith("_type") or kind.endswith("_parsing") or kind == "literal_error":
        return f"{detail['msg'][0].lower()}{detail['msg'][1:]}, got {received!r}"
    return f"{detail['msg'][0].lower()}{detail['msg'][1:]}"


def _unknown_key(location: Location, data: Any, model: type[BaseModel]) -> str:
    key = str(location[-1]) if location else ""
    if key.lower() in _SECRET_WORDS or key.lower().endswith(("password", "_token", "secret")):
        return f"secrets are not allowed in YAML: use {key}_file (e.g. a systemd credential) or {key}_env"
    allowed = _keys_at(model, location[:-1], data)
    if not allowed:
        return f"unknown key {key!r}"
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f"unknown key {key!r} (did you mean {close[0]!r}?)"
    return f"unknown key {key!r} (expected one of: {', '.join(allowed)})"


def _keys_at(model: type[BaseModel], location: Location, data: Any) -> list[str]:
    """The keys the schema accepts at ``location`` (following dicts, lists and ``kind`` unions)."""
    annotation: Any = model
    value = data
    for part in location:
        annotation = _pick_model(annotation, value)
        if annotation is None:
            return []
        child = _child_value(value, part)
        value = None if child is _ABSENT else child
        annotation = _child(annotation, part)
        if annotation is None:
            return []
    final = _pick_model(annotation, value)
    if final is None:
        return []
    return sorted(info.alias or name for name, info in final.model_fields.items())


def _child(annotation: Any, part: str | int) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, info in annotation.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
        return None
    origin = typing.get_origin(annotation)
    if origin is dict:
        return typing.get_args(annotation)[1]
    if origin is list:
        return typing.get_args(annotation)[0]
    return annotation


def _pick_model(annotation: Any, value: Any) -> Any:
    """Unwrap Annotated/Optional/unions down to what applies to ``value`` (a model, dict or list type)."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            candidates = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            annotation = _choose(candidates, value)
            if annotation is None:
                return None
            continue
        return annotation


def _choose(candidates: list[Any], value: Any) -> Any:
    kind = value.get("kind") if isinstance(value, dict) else None
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            field = candidate.model_fields.get("kind")
            if field is None or kind in typing.get_args(field.annotation):
                return candidate
        elif (typing.get_origin(candidate) is list and isinstance(value, list)) or (
            typing.get_origin(candidate) is dict and isinstance(value, dict)
        ):
            return candidate
    return None
