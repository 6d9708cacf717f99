"""Schema versions through Alembic: upgrade, and the check ``serve`` makes before it starts."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from memoguard.services.store import SchemaBehind

_SCRIPTS = Path(__file__).with_name("migrations")


def _config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(_SCRIPTS))
    return config


def head() -> str:
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def current(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to head; returns (revision before, revision after)."""
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
    if revision == head():
        return
    known = {script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()}
    if revision in known:
        raise SchemaBehind(
            f"the database schema is at revision {revision}, this release needs {head()}: "
            "run `memoguard db upgrade` (take a backup first)"
        )
    raise SchemaBehind(
        f"the database schema is at revision {revision}, which this release does not know: "
        "it was written by a newer memoguard; run that release or restore a backup"
    )
