"""Closed history in bulk: resolved incidents with everything a real one leaves behind.

A service that has run for months holds far more closed incidents than open ones. Each one written here
has what the engine leaves once it is over: its alarms (firing, then resolved), its timeline, its pages
and status messages (sent, with the provider's message ids; one page in ten in a storm bundle), its
reply codes (expired) and no timer
(a fired or cancelled timer is deleted). They are written in SQL, in batches, because going through
the ingest for 50,000 incidents would take minutes; the policy and roster copy is the one of an
incident already in the database (the caller opens one through the ingest first).

Used by tests/integration/test_startup.py (work of each start-up statement against history) and
bench/startup.py (start-up time against history).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import sqlalchemy as sa

from memoguard.adapters.storage.table import METADATA

CHUNK = 2_000  # incidents per transaction


def add_closed(
    engine: sa.Engine, count: int, before: datetime, people: list[tuple[str, str]], first_id: int | None = None
) -> None:
    """Add ``count`` resolved incidents, all over by ``before`` (each opened a minute apart, going back
    from four days before it, so no reply code of theirs is still held), paging ``people`` ((name, phone)
    pairs) in turn. Their ids follow the highest one, or start at ``first_id`` (history older than
    incidents already open: ids are handed out in order)."""
    incident = METADATA.tables["incident"]
    with engine.connect() as c:
        model = c.execute(sa.select(incident).order_by(incident.c.id).limit(1)).one_or_none()
        top = c.execute(sa.select(sa.func.max(incident.c.id))).scalar_one()
    if model is None:
        raise ValueError("add_closed copies the policy of an incident already in the database: open one first")
    start = int(top) + 1 if first_id is None else first_id
    for first in range(0, count, CHUNK):
        _chunk(engine, model._mapping, start + first, min(CHUNK, count - first), before, people)
    if engine.dialect.name == "postgresql":
        with engine.begin() as c:
            c.execute(
                sa.text("SELECT setval(pg_get_serial_sequence('incident', 'id'), (SELECT max(id) FROM incident))")
            )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(sa.text("VACUUM ANALYZE"))  # what autovacuum does to tables that grew this much


def _chunk(
    engine: sa.Engine, model: sa.RowMapping, first_id: int, n: int, before: datetime, people: list[tuple[str, str]]
) -> None:
    t = METADATA.tables
    incidents, alarms, entries, pages, codes, bundles = [], [], [], [], [], []
    end = before - timedelta(days=4)
    for k in range(n):
        key = first_id + k
        opened = end - timedelta(minutes=key % 500_000)
        acked, resolved = opened + timedelta(minutes=3), opened + timedelta(minutes=20)
        name, phone = people[key % len(people)]
        incidents.append(
            dict(model)
            | {
                "id": key,
                "dedup_key": f"history-{key}",
                "summary": f"closed incident {key}",
                "state": "resolved",
                "version": 3,
                "step": 0,
                "paged": json.dumps([name]),
                "stage_paged": json.dumps([name]),
                "acked_by": json.dumps([name]),
                "opened_at": opened,
                "updated_at": resolved,
                "resolved_at": resolved,
            }
        )
        for status, at in (("firing", opened), ("resolved", resolved)):
            alarms.append(
                {
                    "source": model["source"],
                    "dedup_key": f"history-{key}",
                    "status": status,
                    "severity": "critical",
                    "summary": f"closed incident {key}",
                    "details": "",
                    "labels": "{}",
                    "outcome": "opened" if status == "firing" else "resolved",
                    "received_at": at,
                    "incident_id": key,
                }
            )
        for kind, at in (("opened", opened), ("notified", opened), ("acknowledged", acked), ("resolved", resolved)):
            entries.append({"incident_id": key, "at": at, "kind": kind, "text": f"{kind} ({key})", "person": name})
        for purpose, at in (("page", opened), ("status", resolved)):
            pages.append(
                {
                    "incident_id": key,
                    "person": name,
                    "channels": json.dumps(["sms"]),
                    "channel_index": 0,
                    "provider_index": 0,
                    "purpose": purpose,
                    "priority": 0 if purpose == "page" else 1,
                    "step": 0,
                    "cycle": 0,
                    "reason": "step" if purpose == "page" else "resolved",
                    "subject": "",
                    "text": f"{purpose} {key}",
                    "status": "sent",
                    "attempts": 1,
                    "created_at": at,
                    "not_before": at,
                    "sent_at": at,
                    "provider": "console",
                    "reference": f"ref-{key}-{purpose}",
                    "bundle_id": None,
                }
            )
        if key % 10 == 0:  # one page in ten went out in a storm bundle
            page = len(pages) - 2
            bundles.append(
                {"person": name, "channel": "sms", "code": 100 + key % 900, "created_at": opened, "page": page}
            )
        codes.append(
            {
                "phone": phone,
                "code": 1 + key % 20,
                "incident_id": key,
                "person": name,
                "created_at": opened,
                "expires_at": opened + timedelta(hours=72),
            }
        )
    with engine.begin() as c:
        if bundles:
            bundle_ids = c.execute(
                sa.insert(t["bundle"]).returning(t["bundle"].c.id, sort_by_parameter_order=True),
                [{k: v for k, v in b.items() if k != "page"} for b in bundles],
            ).scalars()
            for b, bundle_id in zip(bundles, bundle_ids, strict=True):
                pages[b["page"]]["bundle_id"] = bundle_id
        c.execute(sa.insert(t["incident"]), incidents)
        c.execute(sa.insert(t["alarm"]), alarms)
        c.execute(sa.insert(t["timeline"]), entries)
        ids = c.execute(
            sa.insert(t["notification"]).returning(t["notification"].c.id, sort_by_parameter_order=True), pages
        ).scalars()
        messages = [{"provider": "console", "message_id": f"m-{i}", "notification_id": i} for i in ids]
        c.execute(sa.insert(t["provider_message"]), messages)
        c.execute(sa.insert(t["reply_code"]), codes)
