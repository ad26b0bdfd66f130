"""Model writes racing raw writes: whatever the interleaving, the final item is the rules applied write by
write, in write order, as for raw writes alone (test_racing_writes.py).

A model write reads the item as it is (it may still owe a raw write its rule decision), applies the
rules to it, writes the result and names the rule inputs its caller set (`model_write`), as
`cio_sync_cli.member_writes.MemberAdmin` does against DynamoDB (tests/integration/members covers that
adapter through the real handler). Unlike a raw write, a model write may restate any value: the stream
is told, not left to guess.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cio_sync.handlers.stream_batch import stream_records
from cio_sync.members.contract import MemberItem
from cio_sync.members.raw_writes import MODEL_WRITE, model_write_marker
from cio_sync.members.subscriptions import MUTED_AT, apply_subscription_rules, is_profile_eligible, web_signup
from cio_sync.pipeline.member_stream import process_stream_batch
from cio_sync_local.adversary import RAW_VALUES, sequential, visible_write

from .fakes import FakePending, FakePublisher
from .table_sim import SimTable, iso

MEMBER = "5f0c8e2a9b1d4c3e2f1a0b9c"
LANES = 4
UNCOMPARED = frozenset({"updated_at", MODEL_WRITE})


class ModelTable(SimTable):
    def model_write(self, member_id: str, changes: dict[str, Any]) -> str:
        """The repository's update: rules applied to the item as read, the marker stamped; returns `now`."""
        old = copy.deepcopy(self.items[member_id])
        updated_at = self.tick()
        now = iso(datetime.fromtimestamp(self.clock_s, UTC))  # the record's time, as the oracle stamps it
        decided = apply_subscription_rules(old, {**old, **copy.deepcopy(changes)}, now)
        new = {name: value for name, value in decided.items() if value is not None or name == MUTED_AT}
        new["updated_at"] = updated_at
        new[MODEL_WRITE] = model_write_marker(updated_at, changes)
        self.items[member_id] = new
        self._record(old, new)
        return now


class Harness:
    def __init__(self, initial: MemberItem) -> None:
        self.table = ModelTable()
        self.pending = FakePending()
        self.publisher = FakePublisher()
        self.cursor = 0
        self.table.put(initial)
        self.oracle: MemberItem = copy.deepcopy(self.table.items[MEMBER])
        self.steps: list[str] = []

    def __repr__(self) -> str:
        return "Harness(\n  " + "\n  ".join(self.steps) + "\n)"

    def raw_write(self, changes: dict[str, Any]) -> None:
        record = self.table.raw_write(MEMBER, changes)
        now = iso(datetime.fromtimestamp(record["dynamodb"]["ApproximateCreationDateTime"], UTC))
        self.oracle = sequential(self.oracle, changes, now)
        self.steps.append(f"raw {changes}")

    def model_write(self, changes: dict[str, Any]) -> None:
        now = self.table.model_write(MEMBER, changes)
        self.oracle = sequential(self.oracle, changes, now)
        self.steps.append(f"model {changes}")

    def process(self, count: int, start: int | None = None) -> None:
        begin = self.cursor if start is None else start
        batch = self.table.records[begin : begin + count]
        if not batch:
            return
        self.steps.append(f"process [{begin}, {begin + len(batch)})")
        result = process_stream_batch(
            stream_records({"Records": batch}), self.table, self.pending, self.publisher, LANES
        )
        assert result.failed_sequence_numbers == []
        self.cursor = max(self.cursor, begin + len(batch))

    def drain(self) -> None:
        while self.cursor < len(self.table.records):
            self.process(len(self.table.records) - self.cursor)

    def differences(self) -> dict[str, tuple[Any, Any]]:
        raw = self.table.items[MEMBER]
        names = (set(raw) | set(self.oracle)) - UNCOMPARED
        return {
            n: (raw.get(n), self.oracle.get(n)) for n in sorted(names) if raw.get(n) != self.oracle.get(n)
        }


@st.composite
def histories(draw: st.DrawFn) -> Harness:
    initial = web_signup({"id": MEMBER, "email": "someone@example.org"}, "2026-11-26T09:00:00.000000Z")
    if draw(st.booleans()):
        initial.update({"email_subscription_status": False, "email_subscription_topics": []})
        initial[MUTED_AT] = "2026-11-26T09:00:00.000000Z"
    if draw(st.booleans()):
        initial.update(
            {"mobile": "+15555550123", "sms_status": "active", "sms_subscription_topics": ["general"]}
        )
    harness = Harness(initial)
    for _ in range(draw(st.integers(1, 8))):
        step = draw(st.sampled_from(["raw", "model", "model", "process", "redeliver"]))
        names = draw(st.lists(st.sampled_from(sorted(RAW_VALUES)), min_size=1, max_size=3, unique=True))
        if step == "model":
            # Any value, the one the item already holds included: the marker says what was set.
            harness.model_write({name: draw(st.sampled_from(RAW_VALUES[name])) for name in names})
        elif step == "raw":
            raw = harness.table.items[MEMBER]
            write = visible_write(raw, harness.oracle, names, lambda choices: draw(st.sampled_from(choices)))
            if write:
                harness.raw_write(write)
        elif step == "process":
            harness.process(draw(st.integers(1, 4)))
        elif harness.cursor:
            harness.process(draw(st.integers(1, 4)), start=draw(st.integers(0, harness.cursor - 1)))
    return harness


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(harness=histories())
def test_any_interleaving_of_model_and_raw_writes_ends_as_the_rules_write_by_write(harness: Harness) -> None:
    harness.drain()
    assert harness.differences() == {}
    assert is_profile_eligible(harness.table.items[MEMBER]) == is_profile_eligible(harness.oracle)


def test_a_model_sms_stop_racing_a_raw_topic_pick_keeps_the_email_opt_in() -> None:
    """Issue 21's history on the in-memory table (the moto version runs the real adapter)."""
    member = web_signup(
        {"id": MEMBER, "email": "someone@example.org", "mobile": "+15555550123"}, "2026-11-26T09:00:00Z"
    )
    member.update(
        {"email_subscription_status": False, "email_subscription_topics": [], "sms_status": "active"}
    )
    harness = Harness(member)
    harness.drain()
    harness.raw_write({"email_subscription_topics": ["news"]})
    harness.model_write({"sms_status": "stop"})
    harness.drain()
    assert harness.table.items[MEMBER][MUTED_AT] is None
    assert is_profile_eligible(harness.table.items[MEMBER])
    assert harness.differences() == {}
