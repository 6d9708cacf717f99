"""Jinja2 templates from ``memoguard/templates``: ``NAME.LANG.txt``, English when a language is missing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, TemplateNotFound


class TemplateRenderer:
    def __init__(self) -> None:
        self._env = Environment(
            loader=PackageLoader("memoguard", "templates"),
            undefined=StrictUndefined,
            autoescape=False,  # plain text for SMS and voice; HTML e-mail templates get their own environment
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )

    def render(self, template: str, language: str, context: Mapping[str, Any]) -> str:
        try:
            found = self._env.get_template(f"{template}.{language}.txt")
        except TemplateNotFound:
            found = self._env.get_template(f"{template}.en.txt")
        return " ".join(found.render(**context).split())
