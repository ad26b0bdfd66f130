"""Racing raw writes: whatever the interleaving of writes and stream processing, the final item is the
subscription rules applied write by write, in write order (Northstar's sequential semantics).

The oracle below is written from the contract (docs/member-contract.md): each write is applied to the
item as the rules left it after the previous one, then the rules run for that write.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cio_sync.members.contract import MemberItem
from cio_sync.members.subscriptions import (
    deletion_request,
    is_profile_eligible,
    web_signup,
)
from cio_sync_local.adversary import RAW_VALUES, sequential, visible_write

from .fakes import FakePending, FakePublisher, process_raw
from .table_sim import SimTable

MEMBER = "5f0c8e2a9b1d4c3e2f1a0b9c"
LANES = 4
UNCOMPARED = frozenset({"updated_at"})


def _now(record: dict[str, Any]) -> str:
    """The write's time as the contract stamps a mute: the record's creation time, in UTC."""
    moment = datetime.fromtimestamp(record["dynamodb"]["ApproximateCreationDateTime"], UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _rules_view(item: MemberItem) -> dict[str, Any]:
    names = (
        "email_subscription_status",
        "email_subscription_topics",
        "sms_status",
        "sms_subscription_topics",
    )
    return {name: item.get(name) for name in (*names, "promotions_muted_at")}


class Harness:
    """A member, its raw writes, and a stream processed at chosen points (with redeliveries)."""

    def __init__(self, initial: MemberItem) -> None:
        self.table = SimTable()
        self.pending = FakePending()
        self.publisher = FakePublisher()
        self.cursor = 0
        self.table.put(initial)
        self.oracle: MemberItem = copy.deepcopy(self.table.items[initial["id"]])
        self.steps: list[str] = [f"initial {_rules_view(initial)}"]

    def __repr__(self) -> str:
        return "Harness(\n  " + "\n  ".join(self.steps) + "\n)"

    @property
    def raw(self) -> MemberItem:
        return self.table.items[MEMBER]

    def write(self, changes: dict[str, Any]) -> None:
        before = copy.deepcopy(self.oracle)
        record = self.table.raw_write(MEMBER, changes)
        self.oracle = sequential(before, changes, _now(record))
        self.steps.append(f"write {changes} -> oracle {_rules_view(self.oracle)}")

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

    def final_differences(self) -> dict[str, tuple[Any, Any]]:
        names = (set(self.raw) | set(self.oracle)) - UNCOMPARED
        return {
            name: (self.raw.get(name), self.oracle.get(name))
            for name in sorted(names)
            if self.raw.get(name) != self.oracle.get(name)
        }


def _visible_write(draw: st.DrawFn, harness: Harness) -> dict[str, Any]:
    """A write the stream can see (adversary.visible_write): no stream consumer can tell a write that sets
    an attribute to the value it holds from one that did not touch it; those have named tests below."""
    names = draw(st.lists(st.sampled_from(sorted(RAW_VALUES)), min_size=1, max_size=3, unique=True))
    return visible_write(harness.raw, harness.oracle, names, lambda choices: draw(st.sampled_from(choices)))


@st.composite
def histories(draw: st.DrawFn) -> Harness:
    initial = web_signup({"id": MEMBER, "email": "someone@example.org"}, "2026-11-26T09:00:00.000000Z")
    if draw(st.booleans()):
        initial.update({"email_subscription_status": False, "email_subscription_topics": []})
        initial["promotions_muted_at"] = "2026-11-26T09:00:00.000000Z"
    if draw(st.booleans()):
        initial.update(
            {"mobile": "+15555550123", "sms_status": "active", "sms_subscription_topics": ["general"]}
        )
    harness = Harness(initial)
    for _ in range(draw(st.integers(1, 8))):
        step = draw(st.sampled_from(["write", "write", "process", "redeliver"]))
        if step == "write":
            write = _visible_write(draw, harness)
            if write:
                harness.write(write)
        elif step == "process":
            harness.process(draw(st.integers(1, 4)))
        elif harness.cursor:
            harness.process(draw(st.integers(1, 4)), start=draw(st.integers(0, harness.cursor - 1)))
    return harness


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(harness=histories())
def test_any_interleaving_ends_as_the_rules_applied_write_by_write(harness: Harness) -> None:
    harness.drain()
    assert harness.final_differences() == {}
    assert is_profile_eligible(harness.raw) == is_profile_eligible(harness.oracle)


def _muted_unsubscribed() -> MemberItem:
    item = web_signup({"id": MEMBER, "email": "someone@example.org"}, "2026-11-26T09:00:00.000000Z")
    item.update({"email_subscription_status": False, "email_subscription_topics": []})
    item["promotions_muted_at"] = "2026-11-26T09:00:00.000000Z"
    return item


@pytest.mark.parametrize(
    "unsubscribe",
    [
        {"email_subscription_status": False},
        {"email_subscription_status": False, "email_subscription_topics": []},
    ],
    ids=["status only", "status and topics"],
)
def test_picking_a_topic_then_unsubscribing_again_before_the_stream_ends_muted(
    unsubscribe: dict[str, Any],
) -> None:
    harness = Harness(_muted_unsubscribed())
    harness.drain()
    harness.write({"email_subscription_topics": ["news"]})
    harness.write(unsubscribe)  # lands before the topic pick's record is handled
    harness.drain()
    assert harness.raw["promotions_muted_at"] is not None
    assert harness.raw["email_subscription_topics"] == []
    assert not is_profile_eligible(harness.raw)
    assert harness.final_differences() == {}


def test_unsubscribing_from_email_then_subscribing_to_sms_ends_with_sms_only() -> None:
    member = web_signup(
        {"id": MEMBER, "email": "someone@example.org", "mobile": "+15555550123"}, "2026-11-26T09:00:00Z"
    )
    member["sms_status"] = "stop"
    harness = Harness(member)
    harness.drain()
    harness.write({"email_subscription_status": False})
    harness.write({"sms_status": "active"})
    harness.drain()
    assert harness.raw["promotions_muted_at"] is None
    assert harness.raw["email_subscription_topics"] == []
    assert harness.raw["sms_subscription_topics"] == ["general", "voting"]
    assert is_profile_eligible(harness.raw)
    assert harness.final_differences() == {}


def test_an_admin_mute_after_a_pending_topic_pick_stands() -> None:
    harness = Harness(_muted_unsubscribed())
    harness.drain()
    harness.write({"email_subscription_topics": ["news"]})
    harness.write({"promotions_muted_at": "2026-11-26T11:00:00.000000Z"})
    harness.drain()
    assert harness.raw["promotions_muted_at"] == "2026-11-26T11:00:00.000000Z"
    assert harness.final_differences() == {}


def test_a_decision_is_carried_to_the_later_record_in_another_batch() -> None:
    harness = Harness(_muted_unsubscribed())
    harness.drain()
    harness.write({"email_subscription_topics": ["news"]})
    harness.write({"first_name": "Grace", "email_subscription_status": True})
    harness.process(1)  # the topic pick: the item moved on, so its decision is kept, not written
    assert len(harness.pending.kept) == 1
    harness.drain()
    assert harness.final_differences() == {}
    assert harness.raw["promotions_muted_at"] is None


def test_a_touch_while_a_topic_pick_is_pending_errs_on_the_side_of_no_messages() -> None:
    """The one history the stream cannot tell from an unsubscribe: opt-out wins (docs/pipeline.md)."""
    harness = Harness(_muted_unsubscribed())
    harness.drain()
    harness.write({"email_subscription_topics": ["news"]})
    harness.table.raw_write(MEMBER, {"last_authenticated_at": "2026-11-26T10:30:00.000000Z"})
    harness.drain()
    assert not is_profile_eligible(harness.raw)
    assert harness.raw["email_subscription_status"] is False


def test_a_redelivered_record_decides_nothing_twice() -> None:
    harness = Harness(_muted_unsubscribed())
    harness.drain()
    harness.write({"email_subscription_topics": ["news"]})
    harness.drain()
    records = len(harness.table.records)
    harness.process(records, start=0)
    assert len(harness.table.records) == records
    assert harness.final_differences() == {}


def test_a_deletion_request_while_a_topic_pick_is_pending_unsubscribes_and_mutes() -> None:
    harness = Harness(_muted_unsubscribed())
    harness.drain()
    harness.write({"email_subscription_topics": ["news"]})
    # What the model's deletion request writes, read from the table before the pick was decided: it
    # SETs only what differs there (the email status is false already, so it is not in the write).
    requested = deletion_request(harness.raw, "2026-11-26T10:59:00.000000Z")
    written = {name: value for name, value in requested.items() if harness.raw.get(name) != value}
    assert "email_subscription_status" not in written
    harness.table.raw_write(MEMBER, written)
    harness.drain()
    assert harness.raw["email_subscription_status"] is False
    assert harness.raw["email_subscription_topics"] == []
    assert harness.raw["promotions_muted_at"] is not None
    assert not is_profile_eligible(harness.raw)


def test_an_import_restamping_a_muted_member_wins_over_a_pending_topic_pick() -> None:
    """The import re-stamps the mute time of a member it finds muted: a write the stream can see."""
    harness = Harness(_muted_unsubscribed())
    harness.drain()
    harness.write({"email_subscription_topics": ["news"]})
    harness.write({"promotions_muted_at": "2026-11-26T11:30:00.000000Z"})
    harness.drain()
    assert harness.raw["promotions_muted_at"] == "2026-11-26T11:30:00.000000Z"
    assert harness.final_differences() == {}


def test_unsubscribing_from_everything_while_a_topic_pick_is_pending_ends_muted() -> None:
    """An SMS subscriber picks an email topic; a preferences form then writes email false and SMS stop
    before the stream handles the pick. The image cannot show the email status was written: opt-out wins."""
    member = web_signup(
        {"id": MEMBER, "email": "someone@example.org", "mobile": "+15555550123"}, "2026-11-26T09:00:00Z"
    )
    member.update(
        {"email_subscription_status": False, "email_subscription_topics": [], "sms_status": "active"}
    )
    harness = Harness(member)
    harness.drain()
    harness.write({"email_subscription_topics": ["news"]})
    harness.write({"email_subscription_status": False, "sms_status": "stop"})
    harness.drain()
    assert harness.raw["email_subscription_status"] is False
    assert harness.raw["email_subscription_topics"] == []
    assert harness.raw["promotions_muted_at"] is not None
    assert not is_profile_eligible(harness.raw)
    assert harness.final_differences() == {}
