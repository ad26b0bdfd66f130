"""One member, its writes, and a stream processed at chosen points (with redeliveries), beside an oracle
that applies the subscription rules write by write: the harness of the racing-writes properties
(test_racing_writes.py, raw writes; test_model_write_races.py, model writes among them).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from cio_sync.members.contract import MemberItem
from cio_sync.members.subscriptions import MUTED_AT, web_signup
from cio_sync_local.adversary import sequential

from .fakes import FakePending, FakePublisher, process_raw
from .table_sim import SimTable, iso

MEMBER = "5f0c8e2a9b1d4c3e2f1a0b9c"
LANES = 4
RULE_FIELDS = (
    "email_subscription_status",
    "email_subscription_topics",
    "sms_status",
    "sms_subscription_topics",
)


def record_time(record: dict[str, Any]) -> str:
    """The write's time as the contract stamps a mute: the record's creation time, in UTC."""
    return iso(datetime.fromtimestamp(record["dynamodb"]["ApproximateCreationDateTime"], UTC))


def rules_view(item: MemberItem) -> dict[str, Any]:
    return {name: item.get(name) for name in (*RULE_FIELDS, MUTED_AT)}


class RaceHarness:
    """`table` is any SimTable (one that also makes model writes, say); `uncompared` the attributes the
    final item and the oracle may differ in."""

    def __init__(
        self,
        initial: MemberItem,
        table: SimTable | None = None,
        uncompared: frozenset[str] = frozenset({"updated_at"}),
    ) -> None:
        self.table = table or SimTable()
        self.pending = FakePending()
        self.publisher = FakePublisher()
        self.cursor = 0
        self.uncompared = uncompared
        self.table.put(initial)
        self.oracle: MemberItem = copy.deepcopy(self.table.items[initial["id"]])
        self.steps: list[str] = [f"initial {rules_view(initial)}"]

    def __repr__(self) -> str:
        return "Harness(\n  " + "\n  ".join(self.steps) + "\n)"

    @property
    def raw(self) -> MemberItem:
        return self.table.items[MEMBER]

    def write(self, changes: dict[str, Any]) -> None:
        """A raw write: no rules applied by the writer; the stream function owes it its decision."""
        record = self.table.raw_write(MEMBER, changes)
        self.oracle = sequential(copy.deepcopy(self.oracle), changes, record_time(record))
        self.steps.append(f"write {changes} -> oracle {rules_view(self.oracle)}")

    def process(self, count: int, start: int | None = None) -> None:
        """Hand `count` records to the stream function, from the cursor (or from `start`: a redelivery)."""
        begin = self.cursor if start is None else start
        batch = self.table.records[begin : begin + count]
        if not batch:
            return
        self.steps.append(f"process records [{begin}, {begin + len(batch)})")
        result = process_raw(batch, self.table, self.pending, self.publisher, LANES)
        assert result.failed_sequence_numbers == []
        assert result.contract_violations == result.malformed == 0
        self.cursor = max(self.cursor, begin + len(batch))

    def drain(self) -> None:
        """Process until the rules' own write-backs stop producing records."""
        while self.cursor < len(self.table.records):
            self.process(len(self.table.records) - self.cursor)

    def differences(self) -> dict[str, tuple[Any, Any]]:
        names = (set(self.raw) | set(self.oracle)) - self.uncompared
        return {
            name: (self.raw.get(name), self.oracle.get(name))
            for name in sorted(names)
            if self.raw.get(name) != self.oracle.get(name)
        }


def initial_member(draw: st.DrawFn) -> MemberItem:
    """A signed-up member, perhaps muted and unsubscribed, perhaps an SMS subscriber too."""
    initial = web_signup({"id": MEMBER, "email": "someone@example.org"}, "2026-11-26T09:00:00.000000Z")
    if draw(st.booleans()):
        initial.update({"email_subscription_status": False, "email_subscription_topics": []})
        initial[MUTED_AT] = "2026-11-26T09:00:00.000000Z"
    if draw(st.booleans()):
        initial.update(
            {"mobile": "+15555550123", "sms_status": "active", "sms_subscription_topics": ["general"]}
        )
    return initial


def play(draw: st.DrawFn, harness: RaceHarness, writers: Sequence[Callable[[], None]]) -> None:
    """One to eight steps, each a writer (list one twice to draw it twice as often), the stream
    processing from its cursor, or a redelivery of records already processed."""

    def process() -> None:
        harness.process(draw(st.integers(1, 4)))

    def redeliver() -> None:
        if harness.cursor:
            harness.process(draw(st.integers(1, 4)), start=draw(st.integers(0, harness.cursor - 1)))

    for _ in range(draw(st.integers(1, 8))):
        draw(st.sampled_from([*writers, process, redeliver]))()
