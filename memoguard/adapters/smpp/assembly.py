"""Reassembly of long texts that phones send in several parts, which may arrive in any order.

Parts are kept as raw payload octets and decoded once whole, so a character the sender split across
two parts (an escape pair, a surrogate pair) still reads right. A set stays until the inbox has taken
the whole text: if the inbox fails, the SMSC delivers the last part again and the set completes again.
Sets that never complete are dropped after ``keep`` (logged), so a lost part does not hold memory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

Key = tuple[str, int, int]  # sender, reference, total


@dataclass
class _Set:
    started: float
    data_coding: int
    parts: dict[int, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Whole:
    key: Key
    payload: bytes
    data_coding: int


class Assembly:
    def __init__(self, keep: float = 600.0, now: Callable[[], float] = time.monotonic) -> None:
        self._keep = keep
        self._now = now
        self._sets: dict[Key, _Set] = {}
        self._lock = threading.Lock()

    def add(self, sender: str, reference: int, total: int, seq: int, payload: bytes, data_coding: int) -> Whole | None:
        """Keep part ``seq`` of ``total``; the whole payload once every part is in, else None."""
        key = (sender, reference, total)
        with self._lock:
            self._sweep()
            parts = self._sets.get(key)
            if parts is None:
                parts = self._sets[key] = _Set(self._now(), data_coding)
            parts.parts[seq] = payload  # a part delivered twice replaces itself
            if len(parts.parts) < total:
                return None
            return Whole(key, b"".join(parts.parts[number] for number in range(1, total + 1)), parts.data_coding)

    def done(self, key: Key) -> None:
        """Forget a set the inbox has taken."""
        with self._lock:
            self._sets.pop(key, None)

    def pending(self) -> int:
        with self._lock:
            return len(self._sets)

    def _sweep(self) -> None:
        now = self._now()
        for key, parts in list(self._sets.items()):
            if now - parts.started >= self._keep:
                del self._sets[key]
                sender, reference, total = key
                log.warning(
                    "dropped an incomplete SMS from %s (reference %d): %d of %d parts arrived within %.0fs",
                    sender,
                    reference,
                    len(parts.parts),
                    total,
                    self._keep,
                )
