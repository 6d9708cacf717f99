"""``memoguard.services.inbox.SmsParts`` on the store: the parts of a long inbound text, each kept in its
own transaction as it comes, so that a restart between two parts (or another instance taking the next
part) still gives the whole text."""

from __future__ import annotations

from datetime import datetime

from memoguard.adapters.storage.store import SqlStore
from memoguard.services.inbox import DroppedParts, SmsPart


class SqlSmsParts:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    def add(self, part: SmsPart, at: datetime) -> list[SmsPart]:
        with self._store.write() as unit:
            return unit.add_sms_part(part, at)

    def remove(self, part: SmsPart) -> None:
        with self._store.write() as unit:
            unit.remove_sms_parts(part)

    def prune(self, before: datetime) -> list[DroppedParts]:
        with self._store.write() as unit:
            return unit.prune_sms_parts(before)
