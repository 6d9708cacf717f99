"""An Opsgenie REST API of our own on loopback, serving tests/fixtures/opsgenie/api (written from Opsgenie's
API reference), for ``memoguard import opsgenie --api-key-file/--url``.

Strict where the importer could go wrong: every request needs ``Authorization: GenieKey <key>`` (401
otherwise), schedules are listed only with ``expand=rotation`` (as the reference says, rotations are left
out otherwise), teams are listed without members (``GET /v2/teams/{id}`` has them), and users come in
pages of ``page_size`` with ``paging.next`` links, as Opsgenie's ``limit``/``offset`` paging does.
Every request is recorded in ``requests``. ``http.server``'s threading server listens on entering.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.vendor_api import Answer, FakeVendorAPI

API = Path(__file__).parents[1] / "fixtures" / "opsgenie" / "api"


class FakeOpsgenie(FakeVendorAPI):
    def __init__(self, key: str, page_size: int = 2, directory: Path = API) -> None:
        super().__init__(key, page_size, directory)

    def refuse(self, headers: Any) -> Answer | None:
        if headers.get("Authorization") != f"GenieKey {self.key}":
            return 401, {"message": "Could not authenticate", "took": 0.0, "requestId": "x"}
        return None

    def _load(self, name: str) -> list[dict[str, Any]] | None:
        path = self.directory / name
        if not path.is_file():
            return None
        data: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["data"]
        return data

    def answer(self, path: str, query: dict[str, list[str]]) -> Answer:
        status, body = self._answer(path, query)
        return status, {**body, "took": 0.001, "requestId": "fake"}

    def _answer(self, path: str, query: dict[str, list[str]]) -> Answer:
        parts = path.strip("/").split("/")
        if parts[:1] != ["v2"]:
            return 404, {"message": f"no such endpoint {path}"}
        rest = parts[1:]
        if rest == ["users"]:
            users = self._load("users.json") or []
            offset = int(query.get("offset", ["0"])[0])
            limit = min(int(query.get("limit", ["20"])[0]), self.page_size)
            page: dict[str, Any] = {"data": users[offset : offset + limit]}
            if offset + limit < len(users):
                page["paging"] = {"next": f"{self.url}/v2/users?limit={limit}&offset={offset + limit}"}
            return 200, page
        if len(rest) == 3 and rest[0] == "users" and rest[2] == "contacts":
            return 200, {"data": self._load(f"contacts/{rest[1]}.json") or []}
        if rest == ["teams"]:
            teams = self._load("teams.json") or []
            return 200, {"data": [{k: v for k, v in t.items() if k != "members"} for t in teams]}
        if len(rest) == 2 and rest[0] == "teams":
            team = next((t for t in self._load("teams.json") or [] if t["id"] == rest[1]), None)
            return (200, {"data": team}) if team else (404, {"message": "team not found"})
        if rest == ["schedules"]:
            schedules = self._load("schedules.json") or []
            if query.get("expand") != ["rotation"]:
                schedules = [{k: v for k, v in s.items() if k != "rotations"} for s in schedules]
            return 200, {"data": schedules}
        if len(rest) == 3 and rest[0] == "schedules" and rest[2] == "overrides":
            return 200, {"data": self._load(f"overrides/{rest[1]}.json") or []}
        if rest == ["escalations"]:
            return 200, {"data": self._load("escalations.json") or []}
        return 404, {"message": f"no such endpoint {path}"}
