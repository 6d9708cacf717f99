"""Schema versions through Alembic: upgrade, and the check every command makes before it uses the store.

The check is cheap on purpose: a CLI command (``memoguard ack`` at 3 a.m.) must not pay for importing
Alembic (and, through it, every SQL dialect) only to learn that the schema is at head. It reads the one
row of ``alembic_version`` with a plain SELECT and the revisions from the ``revision =`` and
``down_revision =`` lines of the scripts, as text. Alembic is imported only to upgrade, and whenever the
scripts do not read as one straight line of revisions (then Alembic's own reading decides).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

from memoguard.services.store import SchemaBehind

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

_SCRIPTS = Path(__file__).with_name("migrations")
_VERSION_TABLE = "alembic_version"
_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(?:\"([^\"]*)\"|'([^']*)'|(None))\s*$", re.MULTILINE)


def _config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig  # noqa: PLC0415 (only to upgrade or as a fallback)

    config = AlembicConfig()
    config.set_main_option("script_location", str(_SCRIPTS))
    return config


def _chain() -> list[str] | None:
    """The revisions from first to head, read from the scripts' text; None when they are not one
    straight line each script naming its revision and parent in the plain form (Alembic then reads them)."""
    parents: dict[str, str | None] = {}
    for script in sorted((_SCRIPTS / "versions").glob("*.py")):
        if script.name == "__init__.py":
            continue
        found: dict[str, str | None] = {}
        for match in _LINE.finditer(script.read_text(encoding="utf-8")):
            found[match.group(1)] = match.group(2) or match.group(3) or None
        if "revision" not in found or "down_revision" not in found or found["revision"] in parents:
            return None
        revision = found["revision"]
        assert revision is not None
        parents[revision] = found["down_revision"]
    children: dict[str | None, str] = {}
    for revision, parent in parents.items():
        if parent in children:  # two revisions on one parent: a branch
            return None
        children[parent] = revision
    chain: list[str] = []
    step: str | None = None
    while step in children:
        step = children[step]
        chain.append(step)
    return chain if chain and len(chain) == len(parents) else None


def _alembic_revisions() -> tuple[str, set[str]]:
    from alembic.script import ScriptDirectory  # noqa: PLC0415 (see the module's docstring)

    scripts = ScriptDirectory.from_config(_config())
    revision = scripts.get_current_head()
    assert revision is not None
    return revision, {script.revision for script in scripts.walk_revisions()}


def head() -> str:
    chain = _chain()
    return chain[-1] if chain else _alembic_revisions()[0]


def known() -> set[str]:
    """Every revision of this release's scripts."""
    chain = _chain()
    return set(chain) if chain else _alembic_revisions()[1]


def current(engine: Engine) -> str | None:
    """The schema's revision, None for a database that has none (empty, or not memoguard's)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(_VERSION_TABLE):
            return None
        rows = connection.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}")).scalars().all()
        if len(rows) <= 1:
            return str(rows[0]) if rows else None
        from alembic.runtime.migration import MigrationContext  # noqa: PLC0415 (several heads: Alembic says why)

        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to head; returns (revision before, revision after)."""
    from alembic import command  # noqa: PLC0415 (see the module's docstring)

    before = current(engine)
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return before, head()


def ensure_current(engine: Engine) -> None:
    """Create an empty database at head; refuse one whose schema is behind or ahead of this release."""
    revision = current(engine)
    if revision is None:
        if inspect(engine).get_table_names():
            raise SchemaBehind(
                "the database has tables but no schema version; it was not created by memoguard "
                "(point `database:` at an empty database)"
            )
        upgrade(engine)
        return
    latest = head()
    if revision == latest:
        return
    if revision in known():
        raise SchemaBehind(
            f"the database schema is at revision {revision}, this release needs {latest}: "
            "run `memoguard db upgrade` (take a backup first)"
        )
    raise SchemaBehind(
        f"the database schema is at revision {revision}, which this release does not know: "
        "it was written by a newer memoguard; run that release or restore a backup"
    )
