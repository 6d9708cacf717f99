"""What people may answer to a page by SMS, and the short codes that name incidents in those answers.

The grammar is forgiving, because it is typed half asleep on a phone: case, accents, spaces around the
code and trailing punctuation do not matter, and French and English keywords mean the same.

- ``3a``, ``3 a``, ``a 3``, ``ack 3``, ``ok 3``, ``acq 3``, ``3 ack`` acknowledge incident code 3;
- ``3c`` / ``conf 3`` confirm it, ``3r`` / ``res 3`` resolve it, ``3e`` / ``esc 3`` escalate it;
- a bare ``ack``, ``ok``, ``a`` (or ``acq``) acknowledges the one open incident paged to that number;
- ``STOP`` / ``ARRET`` stops non-page messages to that number, ``START`` resumes them.

Codes are small numbers per phone number. Incidents get 1 to 99, then 1000 and up if a number has that
many at once; storm bundles get 100 to 999 (``100a`` acknowledges every incident of the bundle).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

INCIDENT_CODES = range(1, 100)
BUNDLE_CODES = range(100, 1000)
OVERFLOW_CODES_START = 1000  # incident codes past 99 skip the bundle range
CODE_REUSE = timedelta(hours=72)  # a code is not given to another incident of the same number within this


class ReplyVerb(StrEnum):
    ACK = "ack"
    CONFIRM = "confirm"
    RESOLVE = "resolve"
    ESCALATE = "escalate"
    STOP = "stop"
    START = "start"


@dataclass(frozen=True)
class Command:
    """A reply understood. ``code`` is None for a bare acknowledgement and for STOP/START."""

    verb: ReplyVerb
    code: int | None = None

    @property
    def bundle(self) -> bool:
        return self.code is not None and self.code in BUNDLE_CODES


@dataclass(frozen=True)
class Unparsed:
    """A reply that is not a command; ``text`` is what was received, cleaned for display."""

    text: str


_LETTERS = {"a": ReplyVerb.ACK, "c": ReplyVerb.CONFIRM, "r": ReplyVerb.RESOLVE, "e": ReplyVerb.ESCALATE}
_WORDS = {
    **_LETTERS,
    "ack": ReplyVerb.ACK,
    "ok": ReplyVerb.ACK,
    "acq": ReplyVerb.ACK,
    "acquit": ReplyVerb.ACK,
    "acquitte": ReplyVerb.ACK,
    "conf": ReplyVerb.CONFIRM,
    "confirm": ReplyVerb.CONFIRM,
    "confirme": ReplyVerb.CONFIRM,
    "res": ReplyVerb.RESOLVE,
    "resolve": ReplyVerb.RESOLVE,
    "resolu": ReplyVerb.RESOLVE,
    "esc": ReplyVerb.ESCALATE,
    "escalate": ReplyVerb.ESCALATE,
    "escalade": ReplyVerb.ESCALATE,
}
_BARE = {"a", "ack", "ok", "acq", "acquit", "acquitte"}  # only an acknowledgement may leave out the code
_STOP = {"stop", "arret", "stop sms"}
_START = {"start", "unstop", "reprise"}
_WORD = "|".join(sorted(_WORDS, key=len, reverse=True))
_CODE_FIRST = re.compile(rf"^(\d{{1,6}}) ?({_WORD})$")
_WORD_FIRST = re.compile(rf"^({_WORD}) ?#?(\d{{1,6}})$")
MAX_LENGTH = 160  # longer texts are not commands; they are kept (truncated) for the timeline


def _clean(text: str) -> str:
    """Lower case, accents off, ``#`` dropped (``ack #3``), runs of spaces as one, no punctuation around."""
    decomposed = unicodedata.normalize("NFKD", text.replace("#", " "))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(plain.split()).strip(" .!?,;:-'\"")


def parse_reply(text: str) -> Command | Unparsed:
    shown = " ".join(text.split())[:MAX_LENGTH]
    cleaned = _clean(text[: MAX_LENGTH * 4])
    if cleaned in _STOP:
        return Command(ReplyVerb.STOP)
    if cleaned in _START:
        return Command(ReplyVerb.START)
    if cleaned in _BARE:
        return Command(ReplyVerb.ACK)
    for pattern, code_group, word_group in ((_CODE_FIRST, 1, 2), (_WORD_FIRST, 2, 1)):
        match = pattern.match(cleaned)
        if match is not None and int(match.group(code_group)) > 0:
            return Command(_WORDS[match.group(word_group)], int(match.group(code_group)))
    return Unparsed(shown)


def next_code(taken: set[int]) -> int:
    """The smallest incident code not in ``taken`` (the codes a number holds now)."""
    for code in INCIDENT_CODES:
        if code not in taken:
            return code
    code = OVERFLOW_CODES_START
    while code in taken:
        code += 1
    return code
