"""People who can be paged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo


@dataclass(frozen=True)
class Person:
    """``phone`` is E.164; ``channels`` is the order this person prefers to be reached in."""

    name: str
    phone: str | None = None
    email: str | None = None
    language: str = "en"
    timezone: tzinfo | None = None
    channels: tuple[str, ...] = ()
    admin: bool = False
