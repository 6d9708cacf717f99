"""Sources sharing a bearer token: the token is how an alarm says which source sent it, so two sources
with one token cannot be told apart (the service would file every alarm of both under one of them).

Tokens are compared exactly as the service compares them (http/auth.py, services/secret.py): as
read_secret returns them, with surrounding whitespace removed (the final newline a secret file
conventionally ends with, like the one an HTTP client cannot send in a header), then byte for byte: case
and inner whitespace count. Two sources reading the same file or the same environment variable share
their token whether or not it can be read here; a token that cannot be read here (``memoguard check``
run without the service's credentials) is compared by where it comes from only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path

from memoguard.config.schema import SourceModel
from memoguard.config.secret import SecretError, read_secret


def shared_tokens(sources: Mapping[str, SourceModel], directory: Path) -> list[tuple[str, str, str]]:
    """``(source, earlier source, key)`` for each source whose token is an earlier source's; ``key`` says how
    it is known: ``token_env`` or ``token_file`` (the same one), or ``token`` (the same value)."""
    first: dict[tuple[str, str], str] = {}
    found: list[tuple[str, str, str]] = []
    for name, source in sources.items():
        keys: list[tuple[str, str]] = []
        if source.token_env is not None:
            keys.append(("token_env", source.token_env))
        if source.token_file is not None:
            path = Path(source.token_file)
            keys.append(("token_file", str(path if path.is_absolute() else (directory / path).resolve())))
        # A token that cannot be read is reported when the service starts: check does not need the secrets.
        with contextlib.suppress(SecretError):
            keys.append(("token", read_secret(name, "token", source.token_file, source.token_env, directory)))
        for key in keys:
            if key in first:
                found.append((name, first[key], key[0]))
                break
        for key in keys:
            first.setdefault(key, name)
    return found


def same_values(values: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(source, earlier source)`` for each token that is an earlier source's, compared exactly."""
    first: dict[str, str] = {}
    found: list[tuple[str, str]] = []
    for name, value in values.items():
        if value in first:
            found.append((name, first[value]))
        else:
            first[value] = name
    return found
