"""Source tokens: which source a bearer token belongs to, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Mapping


class SourceTokens:
    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._tokens = {name: token.encode() for name, token in tokens.items()}

    def source_for(self, token: str | None) -> str | None:
        """The source whose token this is, or None. Every token is compared, matching or not."""
        if not token:
            return None
        given = token.encode()
        found = None
        for name, expected in self._tokens.items():
            if hmac.compare_digest(given, expected):
                found = name
        return found
