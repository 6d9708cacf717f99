"""A Grafana OnCall public API v1 of our own on loopback, serving tests/fixtures/grafana_oncall/api (written
from Grafana OnCall's API reference), for ``memoguard import grafana-oncall --api-key-file/--url``.

Strict where the importer could go wrong: every request needs ``Authorization: <key>`` (the bare API key,
as Grafana OnCall takes it; 401 otherwise), lists come in pages of ``page_size`` with the reference's
``count``/``next``/``previous``/``results`` envelope and absolute ``next`` links, and
``/schedules/{id}/final_shifts`` needs ``start_date`` and ``end_date`` (dates, 400 otherwise) and answers
only the saved shifts that overlap those days. Every request is recorded in ``requests``.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.vendor_api import Answer, FakeVendorAPI

API = Path(__file__).parents[1] / "fixtures" / "grafana_oncall" / "api"
LISTS = {"users", "schedules", "on_call_shifts", "escalation_chains", "escalation_policies", "integrations", "routes"}


class FakeGrafanaOnCall(FakeVendorAPI):
    def __init__(self, key: str, page_size: int = 2, directory: Path = API) -> None:
        super().__init__(key, page_size, directory)

    def refuse(self, headers: Any) -> Answer | None:
        if headers.get("Authorization") != self.key:
            return 401, {"detail": "Invalid token."}
        return None

    def _results(self, name: str) -> list[dict[str, Any]]:
        path = self.directory / f"{name}.json"
        results: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["results"]
        return results

    def _page(self, path: str, items: list[dict[str, Any]], query: dict[str, list[str]]) -> dict[str, Any]:
        number = int(query.get("page", ["1"])[0])
        first = (number - 1) * self.page_size
        rest = "".join(f"&{k}={v[0]}" for k, v in query.items() if k != "page")
        following = f"{self.url}{path}?page={number + 1}{rest}" if first + self.page_size < len(items) else None
        return {
            "count": len(items),
            "next": following,
            "previous": f"{self.url}{path}?page={number - 1}{rest}" if number > 1 else None,
            "results": items[first : first + self.page_size],
            "current_page_number": number,
            "page_size": self.page_size,
            "total_pages": max(1, -(-len(items) // self.page_size)),
        }

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        if parts[:2] != ["api", "v1"]:
            return 404, {"detail": "Not found."}
        rest = parts[2:]
        if len(rest) == 1 and rest[0] in LISTS:
            return 200, self._page(path, self._results(rest[0]), query)
        if len(rest) == 3 and rest[0] == "schedules" and rest[2] == "final_shifts":
            try:
                first = date.fromisoformat(query["start_date"][0])
                last = date.fromisoformat(query["end_date"][0])
            except (KeyError, ValueError):
                return 400, {"detail": "start_date and end_date are required dates (YYYY-MM-DD)"}
            saved = self.directory / "final_shifts" / f"{rest[1]}.json"
            if not saved.is_file():
                return 404, {"detail": "Not found."}
            since = datetime(first.year, first.month, first.day, tzinfo=UTC)
            until = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
            shifts = [
                s
                for s in json.loads(saved.read_text(encoding="utf-8"))["results"]
                if datetime.fromisoformat(s["shift_start"]) < until and datetime.fromisoformat(s["shift_end"]) > since
            ]
            return 200, self._page(path, shifts, query)
        return 404, {"detail": "Not found."}
