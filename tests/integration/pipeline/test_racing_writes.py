"""Racing raw writes through the real handlers: several writes to a member land before the stream reads
the first (the member-stream function held back, as under a backlog), and Customer.io ends as the final
item says."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from cio_sync.members.contract import MemberItem, utc_now_iso
from cio_sync.members.subscriptions import is_profile_eligible

from .conftest import Pipeline

pytestmark = pytest.mark.integration

STREAM = "MemberStreamFunction"


def web(pipeline: Pipeline, **fields: Any) -> MemberItem:
    email = f"race-{uuid.uuid4().hex[:10]}@example.org"
    return pipeline.repo.create_web_signup({"email": email, "first_name": "Ada", **fields})


def stamp(pipeline: Pipeline, member_id: str, **fields: Any) -> None:
    """A raw write that keeps the contract: `updated_at` changes with every write."""
    pipeline.raw_update(member_id, **fields, updated_at=utc_now_iso())


def muted_member(pipeline: Pipeline) -> MemberItem:
    member = web(pipeline)
    pipeline.repo.update(member["id"], {"email_subscription_status": False})
    pipeline.drain()
    current = pipeline.repo.get(member["id"])
    assert current is not None
    assert current["promotions_muted_at"] is not None
    return current


def resubscribe_events(pipeline: Pipeline, member_id: str) -> int:
    return sum(1 for event in pipeline.events(member_id) if event["name"] == "promotions_resubscribe")


def test_picking_a_topic_then_unsubscribing_again_ends_muted_without_a_profile(pipeline: Pipeline) -> None:
    member = muted_member(pipeline)
    events_before = resubscribe_events(pipeline, member["id"])
    assert pipeline.stack.pump is not None
    with pipeline.stack.pump.hold(STREAM):
        stamp(pipeline, member["id"], email_subscription_topics=["news"])
        stamp(pipeline, member["id"], email_subscription_status=False)
    pipeline.drain()
    final = pipeline.repo.get(member["id"])
    assert final is not None
    assert final["promotions_muted_at"] is not None
    assert final["email_subscription_topics"] == []
    assert pipeline.profile(member["id"]) is None
    assert resubscribe_events(pipeline, member["id"]) == events_before
    assert pipeline.violations() == []


def test_unsubscribing_from_email_then_subscribing_to_sms_ends_with_an_sms_profile(
    pipeline: Pipeline,
) -> None:
    member = web(pipeline, mobile=f"+1555{uuid.uuid4().int % 10**7:07d}", sms_status="stop")
    pipeline.drain()
    assert pipeline.stack.pump is not None
    with pipeline.stack.pump.hold(STREAM):
        stamp(pipeline, member["id"], email_subscription_status=False)
        stamp(pipeline, member["id"], sms_status="active")
    pipeline.drain()
    final = pipeline.repo.get(member["id"])
    assert final is not None
    assert final["promotions_muted_at"] is None
    assert final["email_subscription_topics"] == []
    assert is_profile_eligible(final)
    profile = pipeline.profile(member["id"])
    assert profile is not None
    assert pipeline.violations() == []


def test_an_admin_mute_after_a_topic_pick_is_not_undone(pipeline: Pipeline) -> None:
    member = muted_member(pipeline)
    assert pipeline.stack.pump is not None
    with pipeline.stack.pump.hold(STREAM):
        stamp(pipeline, member["id"], email_subscription_topics=["news"])
        pipeline.repo.admin_mute(member["id"])
    pipeline.drain()
    final = pipeline.repo.get(member["id"])
    assert final is not None
    assert final["promotions_muted_at"] is not None
    assert pipeline.profile(member["id"]) is None
    assert pipeline.violations() == []


def test_a_burst_of_writes_to_one_member_converges(pipeline: Pipeline) -> None:
    member = web(pipeline, mobile=f"+1555{uuid.uuid4().int % 10**7:07d}", sms_status="active")
    pipeline.drain()
    assert pipeline.stack.pump is not None
    with pipeline.stack.pump.hold(STREAM):
        stamp(pipeline, member["id"], email_subscription_status=False)
        stamp(pipeline, member["id"], sms_status="stop")
        stamp(pipeline, member["id"], first_name="Grace")
        stamp(pipeline, member["id"], sms_status="active")
    pipeline.drain()
    final = pipeline.repo.get(member["id"])
    assert final is not None
    # Write by write: email off (SMS still on), SMS stop (now muted), a name, SMS back on (unmuted).
    assert final["promotions_muted_at"] is None
    assert final["email_subscription_status"] is False
    assert final["sms_subscription_topics"] == ["general", "voting"]
    assert pipeline.profile(member["id"]) is not None
    assert pipeline.violations() == []
