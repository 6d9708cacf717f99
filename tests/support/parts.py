"""A fake of ``memoguard.services.inbox.SmsParts`` in memory, for tests of the SMPP link and reception
that do not need a database (tests/integration/test_sms_parts.py runs the real one)."""

from __future__ import annotations

from datetime import datetime

from memoguard.services.inbox import DroppedParts, SmsPart

Key = tuple[str, str, int, int]


class MemoryParts:
    def __init__(self) -> None:
        self.kept: dict[Key, dict[int, tuple[SmsPart, datetime]]] = {}

    def add(self, part: SmsPart, at: datetime) -> list[SmsPart]:
        mine = self.kept.setdefault(_key(part), {})
        mine[part.seq] = (part, at)
        return [mine[seq][0] for seq in sorted(mine)]

    def remove(self, part: SmsPart) -> None:
        self.kept.pop(_key(part), None)

    def prune(self, before: datetime) -> list[DroppedParts]:
        dropped = []
        for key, mine in list(self.kept.items()):
            old = [seq for seq, (_, at) in mine.items() if at <= before]
            for seq in old:
                del mine[seq]
            if old:
                dropped.append(DroppedParts(*key, parts=len(old)))
            if not mine:
                del self.kept[key]
        return dropped


def _key(part: SmsPart) -> Key:
    return (part.provider, part.sender, part.reference, part.total)
