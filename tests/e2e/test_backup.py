"""``memoguard backup FILE`` while a real ``memoguard serve`` runs and takes alarms, then a restore: the
copy passes SQLite's integrity check and a service configuration pointed at it shows every incident
committed before the backup. On PostgreSQL the command says to use pg_dump."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.service import Service, e2e_config

SCRIPTS = {"Authorization": "Bearer scripts-e2e"}


@pytest.fixture
def service(tmp_path: Path, database_url: str) -> Iterator[Service]:
    running = Service(e2e_config(tmp_path, database_url))
    running.start()
    yield running
    running.stop()


def _alarm(service: Service, key: str) -> str:
    body = {"dedup_key": key, "severity": "critical", "summary": f"Disk full on {key}"}
    answer = httpx.post(f"{service.url}/api/v1/alarms", json=body, headers=SCRIPTS, timeout=5)
    assert answer.status_code == 200, answer.text
    incident: str = answer.json()["alarms"][0]["incident"]
    return incident


def test_a_backup_taken_while_serving_restores_every_committed_incident(
    service: Service, database_url: str, tmp_path: Path
) -> None:
    target = tmp_path / "backups" / "memoguard-1.db"
    if not database_url.startswith("sqlite"):
        made = service.cli("backup", str(tmp_path / "pg.db"))
        assert made.returncode == 1
        assert "the database is PostgreSQL: back it up with pg_dump" in made.stderr
        return
    before = [_alarm(service, f"db{i}") for i in range(5)]

    missing_dir = service.cli("backup", str(target))
    assert missing_dir.returncode == 1
    assert f"{target.parent}: no such directory" in missing_dir.stderr
    target.parent.mkdir()
    made = service.cli("backup", str(target))
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"backed up to {target} (")
    _alarm(service, "after")  # the service goes on writing: not in the copy
    again = service.cli("backup", str(target))
    assert again.returncode == 1
    assert "already exists; a backup never overwrites a file" in again.stderr
    assert not list(target.parent.glob("*.partial"))

    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    restored = tmp_path / "restored"
    shutil.copytree(service.config, restored, ignore=shutil.ignore_patterns("*.db*", "serve.log", "pages.jsonl"))
    main = restored / "memoguard.yaml"
    lines = main.read_text(encoding="utf-8").splitlines(keepends=True)
    main.write_text(f"database: sqlite:///{target}\n" + "".join(lines[1:]), encoding="utf-8")
    listed = Service(restored).cli("incidents", "--json")
    assert listed.returncode == 0, listed.stderr
    summaries = sorted(i["summary"] for i in json.loads(listed.stdout)["incidents"])
    assert summaries == sorted(f"Disk full on db{i}" for i in range(5))
    assert len(before) == 5
