"""Reading a vendor's REST API for ``--api-key-file``: GET with the vendor's credential header, JSON
objects only, and the three ways the vendors page their lists (Opsgenie's ``paging.next`` link, Grafana
OnCall's ``next`` link, PagerDuty's ``offset``/``limit``/``more``).

The key is sent only to the origin the user gave: a ``next`` link that points elsewhere is refused, not
followed. Each importer saves what it read under the output directory in the layout its ``--from-dir``
reads, so that the translation is the same code either way and the answers stay for a later look.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

from memoguard.cli.importer.common import ImportProblem

MAX_PAGES = 1000


class Api:
    def __init__(self, vendor: str, url: str, headers: dict[str, str], refused: str) -> None:
        self.vendor = vendor
        self.url = url.rstrip("/")
        self.refused = refused  # what a 401 means, said to the user
        self._origin = urlsplit(self.url)
        self._client = httpx.Client(headers=headers, timeout=30, follow_redirects=False)

    def __enter__(self) -> Api:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._client.close()

    def get(self, path: str, params: Any = None) -> dict[str, Any]:
        address = path if path.startswith("http") else self.url + path
        there = urlsplit(address)
        if (there.scheme, there.netloc) != (self._origin.scheme, self._origin.netloc):
            raise ImportProblem(f"{address}: {self.vendor}'s paging points away from {self.url}: not followed")
        try:
            response = self._client.get(address, params=params)
        except httpx.HTTPError as error:
            raise ImportProblem(f"{address}: {error or type(error).__name__}") from None
        if response.status_code in (401, 403):
            raise ImportProblem(
                f"{self.url}: {self.vendor} refused the API key ({response.status_code}): {self.refused}"
            )
        if response.status_code != 200:
            raise ImportProblem(f"{address}: {self.vendor} answered {response.status_code}: {response.text[:200]}")
        try:
            answer = response.json()
        except ValueError:
            raise ImportProblem(f"{address}: not JSON") from None
        if not isinstance(answer, dict):
            raise ImportProblem(f"{address}: expected a JSON object")
        return answer

    def _items(self, answer: dict[str, Any], key: str, path: str) -> list[dict[str, Any]]:
        data = answer.get(key)
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise ImportProblem(f'{self.url}{path}: expected {self.vendor}\'s envelope {{"{key}": [ … ]}}')
        return data

    def linked(self, path: str, key: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """A list paged by a ``next`` link: ``paging.next`` (Opsgenie) or ``next`` (Grafana OnCall)."""
        items: list[dict[str, Any]] = []
        answer = self.get(path, params)
        for _ in range(MAX_PAGES):
            items += self._items(answer, key, path)
            following = answer.get("next") or (answer.get("paging") or {}).get("next")
            if not following:
                return items
            answer = self.get(str(following))
        raise ImportProblem(f"{self.url}{path}: more than {MAX_PAGES} pages")

    def offset(self, path: str, key: str, params: list[tuple[str, str]] | None = None) -> list[dict[str, Any]]:
        """A list paged by ``offset``/``limit`` while ``more`` is true (PagerDuty's classic pagination)."""
        items: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            answer = self.get(path, [*(params or []), ("limit", "100"), ("offset", str(len(items)))])
            page = self._items(answer, key, path)
            items += page
            if not answer.get("more") or not page:
                return items
        raise ImportProblem(f"{self.url}{path}: more than {MAX_PAGES} pages")
