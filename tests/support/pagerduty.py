"""A PagerDuty REST API v2 of our own on loopback, serving tests/fixtures/pagerduty/api (written from
PagerDuty's API reference), for ``memoguard import pagerduty --api-key-file/--url``.

Strict where the importer could go wrong: every request needs ``Authorization: Token token=<key>`` (401
otherwise) and ``Accept: application/vnd.pagerduty+json;version=2`` (406 otherwise); lists are paged by
``offset``/``limit`` (at most ``page_size`` a page) with ``more``; users carry their contact methods only
with ``include[]=contact_methods`` (references otherwise, as the reference says);
``/schedules/{id}/overrides`` needs ``since`` and ``until`` (400 otherwise); ``/schedules/{id}`` with
``since``/``until`` clips ``final_schedule.rendered_schedule_entries`` to that window. Every request is
recorded in ``requests``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.support.vendor_api import Answer, FakeVendorAPI

API = Path(__file__).parents[1] / "fixtures" / "pagerduty" / "api"
LISTS = {"users", "schedules", "escalation_policies", "services"}
ACCEPT = "application/vnd.pagerduty+json;version=2"


class FakePagerDuty(FakeVendorAPI):
    def __init__(self, key: str, page_size: int = 2, directory: Path = API) -> None:
        super().__init__(key, page_size, directory)

    def refuse(self, headers: Any) -> Answer | None:
        if headers.get("Authorization") != f"Token token={self.key}":
            return 401, {"error": {"message": "Unauthorized", "code": 2006}}
        if headers.get("Accept") != ACCEPT:
            return 406, {"error": {"message": "Not Acceptable"}}
        return None

    def _read(self, name: str) -> Any:
        return json.loads((self.directory / name).read_text(encoding="utf-8"))

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        if len(parts) == 1 and parts[0] in LISTS:
            items: list[dict[str, Any]] = self._read(f"{parts[0]}.json")[parts[0]]
            if parts[0] == "users" and "contact_methods" not in query.get("include[]", []):
                items = [
                    {
                        **u,
                        "contact_methods": [
                            {"id": c["id"], "type": c["type"] + "_reference"} for c in u["contact_methods"]
                        ],
                    }
                    for u in items
                ]
            offset = int(query.get("offset", ["0"])[0])
            limit = min(int(query.get("limit", ["25"])[0]), self.page_size)
            page = items[offset : offset + limit]
            return 200, {
                parts[0]: page,
                "limit": limit,
                "offset": offset,
                "more": offset + limit < len(items),
                "total": None,
            }
        if len(parts) == 2 and parts[0] == "schedules":
            path_ = self.directory / "schedules" / f"{parts[1]}.json"
            if not path_.is_file():
                return 404, {"error": {"message": "Not Found", "code": 2100}}
            document: dict[str, Any] = self._read(f"schedules/{parts[1]}.json")
            if "since" in query and "until" in query:
                since, until = (datetime.fromisoformat(query[k][0]) for k in ("since", "until"))
                final = document["schedule"]["final_schedule"]
                final["rendered_schedule_entries"] = [
                    e
                    for e in final["rendered_schedule_entries"]
                    if datetime.fromisoformat(e["start"]) < until and datetime.fromisoformat(e["end"]) > since
                ]
            return 200, document
        if len(parts) == 3 and parts[0] == "schedules" and parts[2] == "overrides":
            if "since" not in query or "until" not in query:
                return 400, {
                    "error": {"message": "Invalid Input Provided", "code": 2001, "errors": ["since and until"]}
                }
            return 200, self._read(f"overrides/{parts[1]}.json")
        return 404, {"error": {"message": "Not Found", "code": 2100}}
