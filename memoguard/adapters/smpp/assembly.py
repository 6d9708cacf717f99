"""Reassembly of long texts that phones send in several parts, which may arrive in any order.

Each part is kept in the database (``SmsParts``) as it comes, not in memory: a restart of memoguard
between two parts of a text, or another instance given the next part, still gives the whole text when
the last part comes. Parts are kept as raw payload octets and decoded once whole, so a character the
sender split across two parts (an escape pair, a surrogate pair) still reads right. A text's parts stay
until the inbox has taken it whole: if the inbox fails, the SMSC delivers the last part again and the
text completes again.

Parts of a text that never completes are pruned ``KEEP`` (24 hours) after they came, with a warning on
the log. That long because an SMSC holds parts it could not deliver while memoguard was down and hands
them over when it binds again, often hours later (validity periods of a day or two are usual); not
longer because the sender's reference has only 8 bits, and a stale part must not complete a later text
that reuses it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from memoguard.services.clock import Clock
from memoguard.services.inbox import SmsPart, SmsParts

log = logging.getLogger(__name__)

KEEP = timedelta(hours=24)


@dataclass(frozen=True)
class Whole:
    part: SmsPart  # one of its parts: names the text to ``done``
    payload: bytes
    data_coding: int


class Assembly:
    def __init__(self, provider: str, parts: SmsParts, clock: Clock, keep: timedelta = KEEP) -> None:
        self._provider = provider
        self._parts = parts
        self._clock = clock
        self._keep = keep

    def add(self, sender: str, reference: int, total: int, seq: int, payload: bytes, data_coding: int) -> Whole | None:
        """Keep part ``seq`` of ``total`` (committed on return); the whole payload once every part is in,
        else None. Raises when the part could not be kept (the SMSC is then asked to deliver it again)."""
        now = self._clock.now()
        for dropped in self._parts.prune(now - self._keep):
            log.warning(
                "%s: dropped an incomplete SMS from %s (reference %d): %d of %d parts, none more within %gh",
                dropped.provider,
                dropped.sender,
                dropped.reference,
                dropped.parts,
                dropped.total,
                self._keep.total_seconds() / 3600,
            )
        part = SmsPart(self._provider, sender, reference, total, seq, payload, data_coding)
        kept = {p.seq: p for p in self._parts.add(part, now)}
        if any(number not in kept for number in range(1, total + 1)):
            return None
        first = kept[1]
        return Whole(part, b"".join(kept[number].payload for number in range(1, total + 1)), first.data_coding)

    def done(self, whole: Whole) -> None:
        """Forget a text the inbox has taken."""
        self._parts.remove(whole.part)
