"""Shared fixtures: a fake clock, the databases every storage and engine test runs on, and the service
test configuration (tests/fixtures/service) copied next to its database."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

SERVICE_FIXTURE = Path(__file__).parent / "fixtures" / "service"
# A Tuesday: alice is on call (primary), bob is her secondary.
T0 = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get("MEMOGUARD_TEST_DATABASE_URL") else ["sqlite"]


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a fresh SQLite file, or MEMOGUARD_TEST_DATABASE_URL with its schema wiped."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'memoguard.db'}"
        return
    url = os.environ["MEMOGUARD_TEST_DATABASE_URL"]
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    yield url


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service_dir(tmp_path: Path, database_url: str) -> Path:
    """The service test configuration in a temporary directory, pointed at ``database_url``."""
    target = tmp_path / "config"
    shutil.copytree(SERVICE_FIXTURE, target)
    main = target / "memoguard.yaml"
    main.write_text(f"database: {database_url}\n" + main.read_text(encoding="utf-8"), encoding="utf-8")
    return target


def example_copy() -> Path:
    """The repository's example configuration copied to a fresh directory, so tests that open its
    database never create or read memoguard.db in the working tree."""
    root = Path(__file__).resolve().parents[1]
    target = Path(tempfile.mkdtemp(prefix="memoguard-example-"))
    shutil.copy(root / "memoguard.yaml", target / "memoguard.yaml")
    for folder in ("rosters", "escalation_policies"):
        shutil.copytree(root / folder, target / folder)
    return target
