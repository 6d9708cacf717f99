"""Schema versions: an empty database is created at head, a database at another revision or not made by
memoguard is refused with a message that says what to do, and the Alembic migrations build exactly the
schema the sqlmodel tables describe. SQLite always, PostgreSQL when MEMOGUARD_TEST_DATABASE_URL is set."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from memoguard import bootstrap
from memoguard.adapters.storage import migration
from memoguard.adapters.storage.database import open_engine
from memoguard.adapters.storage.table import METADATA
from memoguard.services.store import SchemaBehind

TABLES = {*METADATA.tables, "alembic_version"}

# A revision the next release could ship after this one's head: one more table.
NEXT_REVISION = '''"""A later release's schema change (test only).

Revision ID: 9002
Revises: {head}
"""

import sqlalchemy as sa
from alembic import op

revision = "9002"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("later_release", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("later_release")
'''


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    db = open_engine(database_url)
    yield db
    db.dispose()


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def set_revision(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :revision"), {"revision": revision})


def test_an_empty_database_is_created_at_head(service_dir: Path, engine: Engine) -> None:
    config = bootstrap.load(service_dir)
    assert migration.current(engine) is None
    assert table_names(engine) == set()

    bootstrap.store(config).close()
    assert migration.current(engine) == migration.head()
    assert table_names(engine) == TABLES
    assert bootstrap.schema_status(config) == (migration.head(), migration.head())

    # The next start finds the schema current and changes nothing; upgrading again is a no-op.
    bootstrap.store(config).close()
    assert migration.upgrade(engine) == (migration.head(), migration.head())
    assert table_names(engine) == TABLES


def test_a_schema_written_by_an_unknown_newer_release_is_refused(service_dir: Path, engine: Engine) -> None:
    migration.upgrade(engine)
    set_revision(engine, "f00dcafe9999")

    with pytest.raises(SchemaBehind) as refused:
        bootstrap.store(bootstrap.load(service_dir))
    message = str(refused.value)
    assert "f00dcafe9999" in message
    assert "does not know" in message
    assert "newer memoguard" in message
    assert "memoguard db upgrade" not in message  # upgrading cannot help: this release knows no way there
    assert migration.current(engine) == "f00dcafe9999"  # left as it was


def test_a_schema_one_revision_behind_is_refused_until_db_upgrade(
    service_dir: Path, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """There is only one revision so far, so no real database can be behind yet. The next release is
    played here by memoguard's own migration scripts plus one more revision: a database at today's head
    is then one revision behind, must be refused with the command that fixes it, and that command
    (``migration.upgrade``, what ``memoguard db upgrade`` runs) must bring it to the new head."""
    migration.upgrade(engine)
    today = migration.head()
    scripts = tmp_path / "migrations"
    shutil.copytree(migration._SCRIPTS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "9002_later_release.py").write_text(NEXT_REVISION.format(head=today), encoding="utf-8")
    monkeypatch.setattr(migration, "_SCRIPTS", scripts)
    assert migration.head() == "9002"

    config = bootstrap.load(service_dir)
    with pytest.raises(SchemaBehind) as refused:
        bootstrap.store(config)
    message = str(refused.value)
    assert f"at revision {today}" in message
    assert "needs 9002" in message
    assert "run `memoguard db upgrade`" in message
    assert migration.current(engine) == today
    assert "later_release" not in table_names(engine)

    assert bootstrap.upgrade(config) == (today, "9002")
    assert migration.current(engine) == "9002"
    assert table_names(engine) == {*TABLES, "later_release"}
    bootstrap.store(config).close()  # accepted now


def test_a_database_with_foreign_tables_and_no_schema_version_is_refused(service_dir: Path, engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT)"))
        connection.execute(text("INSERT INTO customer (id, name) VALUES (1, 'ACME')"))

    with pytest.raises(SchemaBehind, match="not created by memoguard"):
        bootstrap.store(bootstrap.load(service_dir))
    assert table_names(engine) == {"customer"}  # nothing created, nothing stamped
    assert migration.current(engine) is None
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM customer")).scalar_one() == "ACME"


def compare(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(context, METADATA))


def test_the_migrations_build_exactly_the_schema_of_the_models(engine: Engine) -> None:
    migration.upgrade(engine)
    assert compare(engine) == []


def test_the_comparison_sees_a_schema_that_drifted_from_the_models(engine: Engine) -> None:
    """Guards the test above against comparing nothing: a column and an index out of step are reported."""
    migration.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE timer ADD COLUMN stray INTEGER"))
        connection.execute(text("DROP INDEX ix_timer_due_at"))
    differences = [(d[0], getattr(d[-1], "name", None)) for d in compare(engine) if isinstance(d, tuple)]
    assert sorted(differences) == [("add_index", "ix_timer_due_at"), ("remove_column", "stray")]


def test_the_open_incident_index_is_unique_and_partial(engine: Engine) -> None:
    """compare_metadata does not look at an index's WHERE clause, so the partial unique index that keeps
    one open incident per dedup key is checked on the migrated database directly."""
    migration.upgrade(engine)
    [index] = [i for i in inspect(engine).get_indexes("incident") if i["name"] == "ix_incident_open_key"]
    assert index["unique"]
    assert index["column_names"] == ["source", "dedup_key"]
    where = index.get("dialect_options", {}).get(f"{engine.dialect.name}_where")
    assert where is not None
    assert "state" in str(where)
    assert "resolved" in str(where)


def test_the_revisions_read_as_text_are_the_ones_alembic_reads() -> None:
    """The schema check reads the scripts without Alembic (issue 20): it must find what Alembic finds."""
    chain = migration._chain()
    assert chain is not None
    head, known = migration._alembic_revisions()
    assert chain[-1] == head == migration.head()
    assert set(chain) == known == migration.known()


def test_a_script_whose_revision_is_not_plain_text_is_read_by_alembic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = migration.head()
    scripts = tmp_path / "migrations"
    shutil.copytree(migration._SCRIPTS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    later = NEXT_REVISION.format(head=today).replace('revision = "9002"', 'revision = "90" + "02"')
    (scripts / "versions" / "9002_later_release.py").write_text(later, encoding="utf-8")
    monkeypatch.setattr(migration, "_SCRIPTS", scripts)
    assert migration._chain() is None
    assert migration.head() == "9002"
    assert {today, "9002"} <= migration.known()
