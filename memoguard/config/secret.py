"""Reading secrets named in the configuration: ``X_file`` (e.g. a systemd credential) or ``X_env``."""

from __future__ import annotations

import os
from pathlib import Path


class SecretError(ValueError):
    pass


def read_secret(owner: str, prefix: str, file: str | None, env: str | None, directory: Path) -> str:
    """The secret's value, stripped of surrounding whitespace; ``owner`` names it in errors."""
    if file is not None:
        path = Path(file) if Path(file).is_absolute() else directory / file
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise SecretError(f"{owner}: cannot read {prefix}_file {str(path)!r}: {error.strerror}") from None
        if not value:
            raise SecretError(f"{owner}: {prefix}_file {str(path)!r} is empty")
        return value
    if env is not None:
        value = os.environ.get(env, "").strip()
        if not value:
            raise SecretError(f"{owner}: environment variable {env} ({prefix}_env) is not set or empty")
        return value
    raise SecretError(f"{owner}: no {prefix}_file or {prefix}_env")
