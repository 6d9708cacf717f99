"""The SMS half of ``SqlUnit``: reply codes per phone number, STOP opt-outs, the provider ids of sent
messages that delivery receipts name, and the parts of long inbound texts until they are whole.

A reply code is held by its phone number while its incident is open and until ``expires_at`` (72 hours
after the last page that showed it), so a late "3a" never lands on another incident. Codes are handed
out under a per-number lock on PostgreSQL: two alarms paging the same person at once must not both get
code 1 (on SQLite the write lock taken at BEGIN already serialises them). The parts of one long text
are kept under a lock of that text on PostgreSQL for the same reason: two instances each given one of
its two parts must not each see only its own and both wait for the other.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, literal, or_, select, text, union_all, update
from sqlalchemy.engine import Connection

from memoguard.adapters.storage.table import (
    IncidentTable,
    NotificationTable,
    OptOutTable,
    ProviderMessageTable,
    ReplyCodeTable,
    SmsPartTable,
)
from memoguard.domain.incident import IncidentState
from memoguard.domain.reply import CODE_REUSE, INCIDENT_CODES, OVERFLOW_CODES_START
from memoguard.services.inbox import DroppedParts, SmsPart
from memoguard.services.record import REPLY, NotificationStatus

code_t = ReplyCodeTable.__table__  # type: ignore[attr-defined]
incident_t = IncidentTable.__table__  # type: ignore[attr-defined]
notification_t = NotificationTable.__table__  # type: ignore[attr-defined]
opt_out_t = OptOutTable.__table__  # type: ignore[attr-defined]
message_t = ProviderMessageTable.__table__  # type: ignore[attr-defined]
part_t = SmsPartTable.__table__  # type: ignore[attr-defined]

CODE_LOCK = 0x736D73  # "sms": the first key of the per-number PostgreSQL advisory lock
PART_LOCK = 0x736D70  # "smp": the first key of the per-text PostgreSQL advisory lock of inbound parts
_OPEN = [s.value for s in IncidentState if s != IncidentState.RESOLVED]
INCIDENT_ID_BOUND = 2**31  # above every incident id (INTEGER columns)


def _free_code() -> Any:
    """The smallest code the number does not hold, by ``memoguard.domain.reply.next_code``'s rule, in
    one statement: it is 1, the first overflow code, or one above a held code. Reading every held code
    instead made each page cost as much as the number's open incidents (a storm paging one person)."""
    c = code_t.c
    phone: Any = bindparam("phone")
    now: Any = bindparam("now")
    since: Any = bindparam("since")
    # The held codes, in two searches bounded by what is live rather than by the number's history (issue
    # 14: this runs for every page, and it read every code the number was ever given): those paged within
    # the reuse time (ix_reply_code_phone_expiry), and those of incidents from the oldest one still open
    # or resolved within it (ix_reply_code_phone_incident). Together: exactly ``_held``.
    # Disjoint: a code is in one part only, so with every incident open (a restart after an outage) the
    # held set is no larger than before. No live incident: every id is below the bound. ``+ 0`` keeps
    # the planner on the expiry (the id range below the oldest live incident is the whole history).
    oldest = _oldest_live(since)
    recent = select(c.code).where(
        c.phone == phone, c.expires_at > now, c.incident_id + 0 < func.coalesce(oldest, INCIDENT_ID_BOUND)
    )
    live = select(c.code).where(c.phone == phone, c.incident_id >= oldest, _held(now, since))
    held = union_all(recent, live).cte("held")
    candidate = union_all(
        select(literal(INCIDENT_CODES[0]).label("x")),
        select(literal(OVERFLOW_CODES_START).label("x")),
        select((held.c.code + 1).label("x")),
    ).subquery()
    x = candidate.c.x
    in_range = or_(x <= INCIDENT_CODES[-1], x >= OVERFLOW_CODES_START)
    return select(func.min(x)).where(in_range, x.not_in(select(held.c.code)))


class SqlSms:
    _c: Connection
    _postgres: bool

    # --- reply codes

    def reply_code(self, phone: str, person: str, incident: str, now: datetime, expires_at: datetime) -> int:
        """The code ``phone`` uses for ``incident``: the one it already has (held until ``expires_at``
        from now on), or the smallest one the number does not hold."""
        if self._postgres:
            key = zlib.crc32(phone.encode()) - 2**31  # PostgreSQL's int4 lock key
            self._c.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": CODE_LOCK, "key": key})
        mine = self._c.execute(_MY_CODE, {"phone": phone, "incident": int(incident)}).first()
        if mine is not None:
            self._c.execute(_RENEW_CODE, {"key": mine.id, "expires_at": expires_at, "person": person})
            return int(mine.code)
        code = int(self._c.execute(_FREE_CODE, {"phone": phone, "now": now, "since": now - CODE_REUSE}).scalar_one())
        values = {
            "phone": phone,
            "code": code,
            "incident_id": int(incident),
            "person": person,
            "created_at": now,
            "expires_at": expires_at,
        }
        self._c.execute(_ADD_CODE, values)
        return code

    def code_holder(self, phone: str, code: int, now: datetime) -> tuple[str, str] | None:
        """The incident ``phone``'s ``code`` names now, and who the number was paged as."""
        c = code_t.c
        row = self._c.execute(
            select(c.incident_id, c.person)
            .where(c.phone == phone, c.code == code, _held(now, now - CODE_REUSE))
            .order_by(c.id.desc())
            .limit(1)
        ).first()
        return None if row is None else (str(row.incident_id), str(row.person or ""))

    def open_codes(self, phone: str) -> list[tuple[int, str, str]]:
        """(code, incident, person) for every open incident paged to ``phone``, newest page first."""
        c = code_t.c
        rows = self._c.execute(
            select(c.code, c.incident_id, c.person)
            .select_from(code_t.join(incident_t, incident_t.c.id == c.incident_id))
            .where(c.phone == phone, incident_t.c.state.in_(_OPEN))
            .order_by(c.expires_at.desc(), c.id.desc())
        )
        return [(int(r.code), str(r.incident_id), str(r.person or "")) for r in rows]

    def latest_code(self, phone: str) -> tuple[int, str, str] | None:
        """(code, incident, person) of the last incident paged to ``phone``, open or not."""
        c = code_t.c
        row = self._c.execute(
            select(c.code, c.incident_id, c.person).where(c.phone == phone).order_by(c.expires_at.desc(), c.id.desc())
        ).first()
        return None if row is None else (int(row.code), str(row.incident_id), str(row.person or ""))

    # --- STOP / START

    def opt_out(self, phone: str, at: datetime) -> bool:
        """Record a STOP; False when the number had already stopped."""
        if self.opted_out(phone):
            return False
        self._c.execute(insert(opt_out_t).values(phone=phone, since=at))
        return True

    def opt_in(self, phone: str) -> bool:
        """Record a START; False when the number had not stopped."""
        return bool(self._c.execute(delete(opt_out_t).where(opt_out_t.c.phone == phone)).rowcount)

    def opted_out(self, phone: str) -> bool:
        return self._c.execute(select(opt_out_t.c.phone).where(opt_out_t.c.phone == phone)).first() is not None

    def answers_since(self, person: str, reasons: Sequence[str], since: datetime) -> int:
        """How many answers to SMS replies with one of ``reasons`` were written for ``person`` since then."""
        n = notification_t.c
        query = select(func.count()).where(
            n.purpose == REPLY, n.person == person, n.reason.in_(list(reasons)), n.created_at > since
        )
        return int(self._c.execute(query).scalar_one())

    # --- delivery receipts

    def add_provider_messages(self, provider: str, message_ids: Sequence[str], notification: int) -> None:
        if message_ids:
            self._c.execute(
                insert(message_t),
                [{"provider": provider, "message_id": m, "notification_id": notification} for m in message_ids],
            )

    def message_notification(self, provider: str, message_id: str) -> int | None:
        m = message_t.c
        row = self._c.execute(
            select(m.notification_id)
            .where(m.provider == provider, m.message_id == message_id)
            .order_by(m.id.desc())
            .limit(1)
        ).first()
        return None if row is None else int(row.notification_id)

    def notification_receipt(self, notification: int, state: str, at: datetime) -> None:
        n = notification_t.c
        self._c.execute(
            update(notification_t)
            .where(n.id == notification, n.status == NotificationStatus.SENT.value)
            .values(receipt=state, receipt_at=at)
        )

    # --- parts of long inbound texts

    def add_sms_part(self, part: SmsPart, at: datetime) -> list[SmsPart]:
        """Keep ``part`` (replacing the same part received before); every part of its text kept so far."""
        if self._postgres:
            name = f"{part.provider}\0{part.sender}\0{part.reference}\0{part.total}"
            key = zlib.crc32(name.encode()) - 2**31
            self._c.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": PART_LOCK, "key": key})
        same = _same_text(part)
        self._c.execute(delete(part_t).where(same, part_t.c.seq == part.seq))
        self._c.execute(
            insert(part_t).values(
                provider=part.provider,
                sender=part.sender,
                reference=part.reference,
                total=part.total,
                seq=part.seq,
                data_coding=part.data_coding,
                payload=part.payload,
                received_at=at,
            )
        )
        rows = self._c.execute(select(part_t).where(same).order_by(part_t.c.seq))
        return [
            SmsPart(r.provider, r.sender, r.reference, r.total, r.seq, bytes(r.payload), r.data_coding) for r in rows
        ]

    def remove_sms_parts(self, part: SmsPart) -> None:
        self._c.execute(delete(part_t).where(_same_text(part)))

    def prune_sms_parts(self, before: datetime) -> list[DroppedParts]:
        p = part_t.c
        rows = self._c.execute(
            delete(part_t).where(p.received_at <= before).returning(p.provider, p.sender, p.reference, p.total)
        )
        counts: dict[tuple[str, str, int, int], int] = {}
        for r in rows:
            key = (r.provider, r.sender, r.reference, r.total)
            counts[key] = counts.get(key, 0) + 1
        return [DroppedParts(*key, parts=n) for key, n in sorted(counts.items())]


def _same_text(part: SmsPart) -> Any:
    p = part_t.c
    return and_(
        p.provider == part.provider, p.sender == part.sender, p.reference == part.reference, p.total == part.total
    )


def _oldest_live(since: Any) -> Any:
    """The lowest id of an incident open or resolved since ``since`` (NULL when there is none): one look
    per state at ix_incident_state_id and a range of ix_incident_resolved_at, however many incidents
    there ever were."""
    i = incident_t.c
    firsts = [select(func.min(i.id).label("id")).where(i.state == state) for state in _OPEN]
    # ``id + 0``: min(id) alone lets the planner walk the primary key from the oldest incident until one
    # resolved lately turns up, i.e. through all of history; this way it reads the range of the index.
    firsts.append(select(func.min(i.id + 0).label("id")).where(i.resolved_at > since))
    lowest = union_all(*firsts).subquery()
    return select(func.min(lowest.c.id)).scalar_subquery()


def _held(now: Any, since: Any) -> Any:
    """A code still held: its last page was less than the reuse time ago (``since`` is now minus that
    time), or its incident is open or was resolved since then (a late "1r" must not reach the next
    incident given code 1). Values or bound parameters."""
    c = code_t.c
    i = incident_t.c
    recent = or_(i.state.in_(_OPEN), i.resolved_at > since)
    return or_(c.expires_at > now, select(i.id).where(i.id == c.incident_id, recent).exists())


# Built once: building a statement and its cache key cost more than running it (bench/hotspot.py).
_FREE_CODE = _free_code()
_MY_CODE = (
    select(code_t.c.id, code_t.c.code)
    .where(code_t.c.phone == bindparam("phone"), code_t.c.incident_id == bindparam("incident"))
    .order_by(code_t.c.id.desc())
    .limit(1)
)
_RENEW_CODE = update(code_t).where(code_t.c.id == bindparam("key"))
_ADD_CODE = insert(code_t)
