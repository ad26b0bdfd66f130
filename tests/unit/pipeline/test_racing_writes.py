"""Racing raw writes: whatever the interleaving of writes and stream processing, the final item is the
subscription rules applied write by write, in write order (Northstar's sequential semantics).

The oracle (race_harness.py) is written from the contract (docs/member-contract.md): each write is applied
to the item as the rules left it after the previous one, then the rules run for that write.
"""

from __future__ import annotations

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
from cio_sync_local.adversary import RAW_VALUES, visible_write

from .race_harness import MEMBER, RaceHarness, initial_member, play


def _visible_write(draw: st.DrawFn, harness: RaceHarness) -> dict[str, Any]:
    """A write the stream can see (adversary.visible_write): no stream consumer can tell a write that sets
    an attribute to the value it holds from one that did not touch it; those have named tests below."""
    names = draw(st.lists(st.sampled_from(sorted(RAW_VALUES)), min_size=1, max_size=3, unique=True))
    return visible_write(harness.raw, harness.oracle, names, lambda choices: draw(st.sampled_from(choices)))


@st.composite
def histories(draw: st.DrawFn) -> RaceHarness:
    harness = RaceHarness(initial_member(draw))

    def write() -> None:
        if changes := _visible_write(draw, harness):
            harness.write(changes)

    play(draw, harness, [write, write])
    return harness


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(harness=histories())
def test_any_interleaving_ends_as_the_rules_applied_write_by_write(harness: RaceHarness) -> None:
    harness.drain()
    assert harness.differences() == {}
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
    harness = RaceHarness(_muted_unsubscribed())
    harness.drain()
    harness.write({"email_subscription_topics": ["news"]})
    harness.write(unsubscribe)  # lands before the topic pick's record is handled
    harness.drain()
    assert harness.raw["promotions_muted_at"] is not None
    assert harness.raw["email_subscription_topics"] == []
    assert not is_profile_eligible(harness.raw)
    assert harness.differences() == {}


def test_unsubscribing_from_email_then_subscribing_to_sms_ends_with_sms_only() -> None:
    member = web_signup(
        {"id": MEMBER, "email": "someone@example.org", "mobile": "+15555550123"}, "2026-11-26T09:00:00Z"
    )
    member["sms_status"] = "stop"
    harness = RaceHarness(member)
    harness.drain()
    harness.write({"email_subscription_status": False})
    harness.write({"sms_status": "active"})
    harness.drain()
    assert harness.raw["promotions_muted_at"] is None
    assert harness.raw["email_subscription_topics"] == []
    assert harness.raw["sms_subscription_topics"] == ["general", "voting"]
    assert is_profile_eligible(harness.raw)
    assert harness.differences() == {}


def test_an_admin_mute_after_a_pending_topic_pick_stands() -> None:
    harness = RaceHarness(_muted_unsubscribed())
    harness.drain()
    harness.write({"email_subscription_topics": ["news"]})
    harness.write({"promotions_muted_at": "2026-11-26T11:00:00.000000Z"})
    harness.drain()
    assert harness.raw["promotions_muted_at"] == "2026-11-26T11:00:00.000000Z"
    assert harness.differences() == {}


def test_a_decision_is_carried_to_the_later_record_in_another_batch() -> None:
    harness = RaceHarness(_muted_unsubscribed())
    harness.drain()
    harness.write({"email_subscription_topics": ["news"]})
    harness.write({"first_name": "Grace", "email_subscription_status": True})
    harness.process(1)  # the topic pick: the item moved on, so its decision is kept, not written
    assert len(harness.pending.kept) == 1
    harness.drain()
    assert harness.differences() == {}
    assert harness.raw["promotions_muted_at"] is None


def test_a_touch_while_a_topic_pick_is_pending_errs_on_the_side_of_no_messages() -> None:
    """The one history the stream cannot tell from an unsubscribe: opt-out wins (docs/pipeline.md)."""
    harness = RaceHarness(_muted_unsubscribed())
    harness.drain()
    harness.write({"email_subscription_topics": ["news"]})
    harness.table.raw_write(MEMBER, {"last_authenticated_at": "2026-11-26T10:30:00.000000Z"})
    harness.drain()
    assert not is_profile_eligible(harness.raw)
    assert harness.raw["email_subscription_status"] is False


def test_a_redelivered_record_decides_nothing_twice() -> None:
    harness = RaceHarness(_muted_unsubscribed())
    harness.drain()
    harness.write({"email_subscription_topics": ["news"]})
    harness.drain()
    records = len(harness.table.records)
    harness.process(records, start=0)
    assert len(harness.table.records) == records
    assert harness.differences() == {}


def test_a_deletion_request_while_a_topic_pick_is_pending_unsubscribes_and_mutes() -> None:
    harness = RaceHarness(_muted_unsubscribed())
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
    harness = RaceHarness(_muted_unsubscribed())
    harness.drain()
    harness.write({"email_subscription_topics": ["news"]})
    harness.write({"promotions_muted_at": "2026-11-26T11:30:00.000000Z"})
    harness.drain()
    assert harness.raw["promotions_muted_at"] == "2026-11-26T11:30:00.000000Z"
    assert harness.differences() == {}


def test_unsubscribing_from_everything_while_a_topic_pick_is_pending_ends_muted() -> None:
    """An SMS subscriber picks an email topic; a preferences form then writes email false and SMS stop
    before the stream handles the pick. The image cannot show the email status was written: opt-out wins."""
    member = web_signup(
        {"id": MEMBER, "email": "someone@example.org", "mobile": "+15555550123"}, "2026-11-26T09:00:00Z"
    )
    member.update(
        {"email_subscription_status": False, "email_subscription_topics": [], "sms_status": "active"}
    )
    harness = RaceHarness(member)
    harness.drain()
    harness.write({"email_subscription_topics": ["news"]})
    harness.write({"email_subscription_status": False, "sms_status": "stop"})
    harness.drain()
    assert harness.raw["email_subscription_status"] is False
    assert harness.raw["email_subscription_topics"] == []
    assert harness.raw["promotions_muted_at"] is not None
    assert not is_profile_eligible(harness.raw)
    assert harness.differences() == {}
