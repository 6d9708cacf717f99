"""The template port: what people read, per channel purpose and language (French and English)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class Renderer(Protocol):
    def render(self, template: str, language: str, context: Mapping[str, Any]) -> str:
        """Render ``template`` in ``language`` (falls back to English)."""
        ...
