"""Overrides stored in the database: "Bob takes Alice's nights this week", without editing YAML.

They are laid over the YAML rosters wherever rosters are read (``oncall``, ``roster show``, the API) and
over the roster copies of open incidents at every decision, so they act at once. Adding and removing
one writes an audit row in the same transaction (``context``: the CLI on the host by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from memoguard.config.model import Config
from memoguard.domain.roster import Override, Roster
from memoguard.services.access import Context
from memoguard.services.clock import Clock
from memoguard.services.error import Invalid, NotFound
from memoguard.services.record import AuditEntry, StoredOverride
from memoguard.services.store import Store


class Overrides:
    def __init__(self, store: Store, clock: Clock, config: Config) -> None:
        self._store = store
        self._clock = clock
        self._config = config

    def add(
        self,
        roster: str,
        who: str,
        start: datetime,
        end: datetime,
        level: str,
        note: str = "",
        context: Context | None = None,
    ) -> int:
        try:
            target = self._config.roster(roster)
        except LookupError as error:
            raise Invalid(str(error.args[0])) from None
        if who not in self._config.people:
            raise Invalid(f"unknown person {who!r} (people: {', '.join(sorted(self._config.people))})")
        if level not in target.level_names:
            raise Invalid(f"roster {roster!r} has no level {level!r} (levels: {', '.join(target.level_names)})")
        if start.tzinfo is None or end.tzinfo is None:
            raise Invalid("override bounds must carry a time zone")
        if end <= start:
            raise Invalid(f"the override ends ({end.isoformat()}) before it starts ({start.isoformat()})")
        context = context or Context("cli")
        with self._store.write() as unit:
            now = self._clock.now()
            number = unit.add_override(roster, who, start, end, level, note, now)
            detail = f"{who} on {roster}/{level} from {start.isoformat()} to {end.isoformat()}"
            unit.add_audit(
                AuditEntry(
                    now, context.actor, "override-add", context.how, context.address, f"override {number}", detail
                )
            )
            return number

    def remove(self, override: int, context: Context | None = None) -> StoredOverride:
        context = context or Context("cli")
        with self._store.write() as unit:
            removed = unit.remove_override(override)
            if removed is not None:
                now = self._clock.now()
                detail = f"{removed.who} on {removed.roster}/{removed.level}"
                entry = AuditEntry(
                    now, context.actor, "override-remove", context.how, context.address, f"override {override}", detail
                )
                unit.add_audit(entry)
        if removed is None:
            raise NotFound(f"no override #{override}")
        return removed

    def list(self, roster: str | None = None) -> list[StoredOverride]:
        with self._store.read() as unit:
            return unit.overrides(roster)

    def rosters(self) -> Mapping[str, Roster]:
        """The configured rosters with the stored overrides laid over them."""
        return apply_overrides(self._config.rosters, self.list())


def apply_overrides(rosters: Mapping[str, Roster], stored: list[StoredOverride]) -> dict[str, Roster]:
    merged: dict[str, Roster] = {}
    for name, roster in rosters.items():
        extra = [
            Override(o.who, o.start, o.end, o.level, ref=f"override #{o.id}", source=f"override #{o.id}")
            for o in stored
            if o.roster == name and o.level in roster.level_names
        ]
        merged[name] = roster.with_overrides(extra) if extra else roster
    return merged
