"""Fixtures the storage tests share: the service test configuration and a store on its database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from memoguard import bootstrap
from memoguard.adapters.storage.store import SqlStore
from memoguard.config.model import Config
from tests.integration.test_http import served  # noqa: F401 (a fixture: the API served, test_http and test_access)
from tests.support.delivery import build  # noqa: F401 (a fixture: the delivery world of several test files)


@pytest.fixture
def config(service_dir: Path) -> Config:
    return bootstrap.load(service_dir)


@pytest.fixture
def store(config: Config) -> Iterator[SqlStore]:
    sql = bootstrap.store(config)
    yield sql
    sql.close()
