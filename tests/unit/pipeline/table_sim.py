"""A member table with a stream, in memory: raw writes and rule write-backs both become stream records.

The stream function's port (write_rule_decisions, current_rule_state) behaves like the DynamoDB adapter:
conditional on every rule input, stamping `updated_at`. Tests choose when records are processed.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cio_sync.members.contract import MemberItem

from .fakes import stream_record

START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class SimTable:
    items: dict[str, MemberItem] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    clock_s: int = 1_790_000_000
    ticks: int = 0

    def tick(self) -> str:
        """A later `updated_at` for every write, and a later stream time every few writes."""
        self.ticks += 1
        self.clock_s += 1
        return iso(START + timedelta(seconds=self.ticks))

    def put(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """A write of a whole item (a sign-up): returns its INSERT/MODIFY record."""
        old = copy.deepcopy(self.items.get(item["id"]))
        new = {**copy.deepcopy(dict(item)), "updated_at": self.tick()}
        self.items[item["id"]] = new
        return self._record(old, new)

    def raw_write(self, member_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """UpdateItem of `changes` (None removes; for promotions_muted_at, stores null)."""
        old = copy.deepcopy(self.items[member_id])
        new = copy.deepcopy(old)
        for name, value in changes.items():
            if value is None and name != "promotions_muted_at":
                new.pop(name, None)
            else:
                new[name] = copy.deepcopy(value)
        new["updated_at"] = self.tick()
        self.items[member_id] = new
        return self._record(old, new)

    def delete(self, member_id: str) -> dict[str, Any]:
        old = self.items.pop(member_id)
        return self._record(old, None)

    def _record(self, old: MemberItem | None, new: MemberItem | None) -> dict[str, Any]:
        record = stream_record(old, new, created_s=self.clock_s)
        self.records.append(record)
        return record

    # --- the stream function's writer port -----------------------------------------------------------

    def write_rule_decisions(
        self, member_id: str, expected: Mapping[str, Any], decided: Mapping[str, Any]
    ) -> bool:
        item = self.items.get(member_id)
        if item is None or any(item.get(name) != value for name, value in expected.items()):
            return False
        self.raw_write(member_id, decided)
        return True
