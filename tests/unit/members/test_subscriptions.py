"""Northstar's subscription rules, including the cases Northstar's own UserModelTest covered."""

from __future__ import annotations

from typing import Any

import pytest

from cio_sync.members.contract import InvalidMember, MemberItem, is_member_id, validate_member
from cio_sync.members.subscriptions import (
    admin_mute,
    apply_subscription_rules,
    deletion_request,
    has_subscribed_sms_status,
    is_email_subscribed,
    is_profile_eligible,
    is_sms_subscribed,
    sms_signup,
    web_signup,
)
from cio_sync_local.member_factory import LATER, NOW, member


def write(old: MemberItem, now: str = NOW, **changes: Any) -> MemberItem:
    """A model-style write: the old item with changes, through the rules."""
    return apply_subscription_rules(old, {**old, **changes}, now)


def email_only(**fields: Any) -> MemberItem:
    return member(sms_status=None, sms_subscription_topics=None, **fields)


def sms_only(**fields: Any) -> MemberItem:
    return member(email_subscription_status=None, email_subscription_topics=None, **fields)


# --- definitions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "expected"), [(True, True), (False, False), (None, False)])
def test_email_subscribed_is_the_status_being_true(status: bool | None, expected: bool) -> None:
    assert is_email_subscribed(member(email_subscription_status=status)) is expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("active", True),
        ("less", True),
        ("pending", True),  # pending counts as subscribed
        ("stop", False),
        ("undeliverable", False),
        ("unknown", False),
        (None, False),
    ],
)
def test_sms_subscribed_statuses(status: str | None, expected: bool) -> None:
    assert has_subscribed_sms_status(member(sms_status=status)) is expected
    assert is_sms_subscribed(member(sms_status=status)) is expected


def test_sms_subscribed_for_the_profile_needs_a_mobile() -> None:
    assert has_subscribed_sms_status(member(mobile=None))
    assert not is_sms_subscribed(member(mobile=None))


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (None, False),
        (member(), True),
        (email_only(), True),
        (sms_only(), True),
        (sms_only(mobile=None), False),
        (member(promotions_muted_at=NOW), False),
        (member(email_subscription_status=False, sms_status="stop"), False),
        (member(email_subscription_status=None, sms_status="unknown"), False),
    ],
)
def test_profile_eligibility_is_the_invariant(item: MemberItem | None, expected: bool) -> None:
    assert is_profile_eligible(item) is expected


# --- Northstar's model tests -------------------------------------------------------------------------


def test_muting_and_unmuting_promotions_via_email_status_change() -> None:
    created = apply_subscription_rules(
        None, email_only(email_subscription_topics=["lifestyle", "scholarships"]), NOW
    )
    unsubscribed = write(created, email_subscription_status=False)
    assert unsubscribed["promotions_muted_at"] == NOW
    assert unsubscribed["email_subscription_topics"] == []

    resubscribed = write(unsubscribed, LATER, email_subscription_topics=["lifestyle"])
    assert resubscribed["promotions_muted_at"] is None
    assert resubscribed["email_subscription_status"] is True


def test_muting_and_unmuting_promotions_via_sms_status_change() -> None:
    created = apply_subscription_rules(None, sms_only(), NOW)
    stopped = write(created, sms_status="stop")
    assert stopped["promotions_muted_at"] == NOW
    assert stopped["sms_subscription_topics"] == []

    resubscribed = write(stopped, LATER, sms_status="less")
    assert resubscribed["promotions_muted_at"] is None
    assert resubscribed["sms_subscription_topics"] == ["general", "voting"]


def test_unmuting_promotions_via_email_topics_change() -> None:
    muted = admin_mute(email_only(email_subscription_topics=["lifestyle"]), NOW)
    assert muted["promotions_muted_at"] == NOW
    unmuted = write(muted, LATER, email_subscription_topics=["scholarships", "community"])
    assert unmuted["promotions_muted_at"] is None


def test_a_topic_pick_that_loses_to_an_email_unsubscribe_keeps_an_explicit_mute() -> None:
    """The unsubscribe wins over new topics, so the pick subscribes nothing and unmutes nothing."""
    result = write(
        member(),
        LATER,
        promotions_muted_at=LATER,
        email_subscription_status=False,
        email_subscription_topics=["news"],
    )
    assert result["email_subscription_topics"] == []
    assert result["promotions_muted_at"] == LATER


def test_setting_email_status_true_alone_does_not_unmute() -> None:
    muted = write(email_only(), email_subscription_status=False)
    assert muted["promotions_muted_at"] == NOW
    still_muted = write(muted, LATER, email_subscription_status=True)
    assert still_muted["promotions_muted_at"] == NOW


def test_pending_sms_status_subscribes_and_unmutes() -> None:
    stopped = write(sms_only(), sms_status="stop")
    pending = write(stopped, LATER, sms_status="pending")
    assert pending["promotions_muted_at"] is None
    assert pending["sms_subscription_topics"] == ["general", "voting"]


def test_creating_a_subscribed_sms_member_adds_default_topics() -> None:
    created = apply_subscription_rules(None, sms_only(sms_subscription_topics=None), NOW)
    assert created["sms_subscription_topics"] == ["general", "voting"]


def test_creating_an_unsubscribed_sms_member_adds_no_topics() -> None:
    created = apply_subscription_rules(None, sms_only(sms_status="stop", sms_subscription_topics=None), NOW)
    assert "sms_subscription_topics" not in created


def test_changing_between_subscribed_statuses_keeps_existing_topics() -> None:
    less = member(sms_status="less", sms_subscription_topics=["voting"])
    assert write(less, sms_status="active")["sms_subscription_topics"] == ["voting"]


def test_changing_to_subscribed_adds_default_topics_when_none() -> None:
    stopped = member(sms_status="stop", sms_subscription_topics=[])
    assert write(stopped, sms_status="active")["sms_subscription_topics"] == ["general", "voting"]


# --- the rest of the rules ---------------------------------------------------------------------------


def test_creating_with_email_topics_forces_the_status_true() -> None:
    created = apply_subscription_rules(None, member(email_subscription_status=False), NOW)
    assert created["email_subscription_status"] is True


def test_subscribing_to_email_topics_forces_the_status_true() -> None:
    unsubscribed = member(email_subscription_status=False, email_subscription_topics=[])
    assert write(unsubscribed, email_subscription_topics=["news"])["email_subscription_status"] is True


def test_emptying_the_topics_does_not_unsubscribe() -> None:
    emptied = write(member(), email_subscription_topics=[])
    assert emptied["email_subscription_status"] is True
    assert emptied["promotions_muted_at"] is None


def test_reordering_topics_is_not_a_subscription_change() -> None:
    muted = member(email_subscription_topics=["news", "clubs"], promotions_muted_at=NOW)
    assert write(muted, LATER, email_subscription_topics=["clubs", "news"])["promotions_muted_at"] == NOW


def test_unsubscribing_from_email_clears_topics_and_wins_over_new_topics() -> None:
    result = write(email_only(), email_subscription_status=False, email_subscription_topics=["news"])
    assert result["email_subscription_topics"] == []
    assert result["email_subscription_status"] is False
    assert result["promotions_muted_at"] == NOW


def test_unsubscribing_from_one_channel_while_subscribed_to_the_other_does_not_mute() -> None:
    assert write(member(), email_subscription_status=False)["promotions_muted_at"] is None
    assert write(member(), sms_status="undeliverable")["promotions_muted_at"] is None


def test_unsubscribing_from_both_in_one_write_mutes() -> None:
    result = write(member(), email_subscription_status=False, sms_status="stop")
    assert result["promotions_muted_at"] == NOW
    assert result["email_subscription_topics"] == []
    assert result["sms_subscription_topics"] == []


def test_unsubscribing_from_sms_while_email_status_unset_mutes() -> None:
    assert write(sms_only(), sms_status="undeliverable")["promotions_muted_at"] == NOW


def test_sms_status_unknown_or_null_is_neither_subscribing_nor_unsubscribing() -> None:
    muted = member(sms_status="stop", promotions_muted_at=NOW)
    assert write(muted, LATER, sms_status="unknown")["promotions_muted_at"] == NOW
    assert write(member(email_subscription_status=None), sms_status=None)["promotions_muted_at"] is None


def test_mute_is_decided_after_unmute_and_wins() -> None:
    muted = member(email_subscription_status=False, sms_status="active", promotions_muted_at=NOW)
    # Subscribes to email (topics) and unsubscribes from SMS in one write: unmute, then mute.
    result = write(muted, LATER, email_subscription_topics=["news"], sms_status="stop")
    assert result["email_subscription_status"] is True
    # Email ends up subscribed, so "unsubscribed from SMS while not subscribed to email" does not hold.
    assert result["promotions_muted_at"] is None
    admin_muted = member(promotions_muted_at=NOW)
    both = write(
        admin_muted,
        LATER,
        email_subscription_topics=["news"],
        email_subscription_status=False,
        sms_status="stop",
    )
    assert both["promotions_muted_at"] == LATER


def test_a_muted_member_who_unsubscribes_again_gets_a_new_mute_time() -> None:
    muted = email_only(promotions_muted_at=NOW)
    assert write(muted, LATER, email_subscription_status=False)["promotions_muted_at"] == LATER


def test_writes_that_touch_no_subscription_keep_the_mute_as_it_is() -> None:
    assert write(member(promotions_muted_at=NOW), LATER, first_name="Grace")["promotions_muted_at"] == NOW
    assert write(member(), LATER, first_name="Grace")["promotions_muted_at"] is None


def test_the_rules_do_not_modify_their_inputs() -> None:
    old, new = member(), member(email_subscription_status=False, sms_status="stop")
    old_copy, new_copy = dict(old), dict(new)
    apply_subscription_rules(old, new, NOW)
    assert (old, new) == (old_copy, new_copy)


def test_re_applying_the_rules_later_keeps_the_mute_time_the_write_carries() -> None:
    # The model mutes at NOW; the stream re-checks the same write at LATER and must not move the time.
    old = member()
    written = write(old, NOW, email_subscription_status=False, sms_status="stop")
    assert apply_subscription_rules(old, written, LATER) == written


def test_a_write_that_mutes_itself_while_unsubscribing_keeps_its_own_time() -> None:
    result = write(
        member(), LATER, email_subscription_status=False, sms_status="stop", promotions_muted_at=NOW
    )
    assert result["promotions_muted_at"] == NOW


def test_writing_back_the_decided_mute_changes_nothing() -> None:
    old = member()
    raw = {**old, "email_subscription_status": False, "sms_status": "stop"}
    decided = apply_subscription_rules(old, raw, NOW)["promotions_muted_at"]
    written_back = {**raw, "promotions_muted_at": decided}
    assert apply_subscription_rules(raw, written_back, LATER) == written_back


# --- write builders ----------------------------------------------------------------------------------


def test_web_signup_subscribes_to_community_email() -> None:
    created = web_signup({"email": " New@Example.org ", "first_name": "Ada", "last_name": None}, NOW)
    validate_member(created)
    assert is_member_id(created["id"])
    assert created["email"] == "new@example.org"
    assert created["email_subscription_topics"] == ["community"]
    assert created["email_subscription_status"] is True
    assert created["promotions_muted_at"] is None
    assert created["created_at"] == created["updated_at"] == NOW
    assert "last_name" not in created
    assert is_profile_eligible(created)


def test_web_signup_keeps_chosen_topics_and_a_given_id() -> None:
    created = web_signup(
        {"id": member()["id"], "email": "a@example.org", "email_subscription_topics": ["news"]}, NOW
    )
    assert created["id"] == member()["id"]
    assert created["email_subscription_topics"] == ["news", "community"]


def test_web_signup_needs_an_email_and_a_valid_item() -> None:
    with pytest.raises(InvalidMember) as error:
        web_signup({"first_name": "Ada"}, NOW)
    assert error.value.field == "email"
    with pytest.raises(InvalidMember) as error:
        web_signup({"email": "a@example.org", "mobile": "0123"}, NOW)
    assert error.value.field == "mobile"


def test_sms_signup_subscribes_with_default_topics() -> None:
    created = sms_signup({"mobile": "+15555550123"}, NOW)
    assert created["sms_status"] == "active"
    assert created["sms_subscription_topics"] == ["general", "voting"]
    assert is_profile_eligible(created)
    assert sms_signup({"mobile": "+15555550123", "sms_subscription_topics": ["voting"]}, NOW)[
        "sms_subscription_topics"
    ] == ["voting"]


def test_sms_signup_needs_a_mobile() -> None:
    with pytest.raises(InvalidMember) as error:
        sms_signup({"email": "a@example.org"}, NOW)
    assert error.value.field == "mobile"


def test_deletion_request_unsubscribes_everything_and_mutes() -> None:
    requested = deletion_request(member(), NOW)
    assert requested["email_subscription_status"] is False
    assert requested["email_subscription_topics"] == []
    assert requested["sms_status"] == "stop"
    assert requested["sms_subscription_topics"] == []
    assert requested["deletion_requested_at"] == NOW
    assert requested["promotions_muted_at"] == NOW
    assert not is_profile_eligible(requested)


def test_deletion_request_mutes_a_member_who_was_already_unsubscribed() -> None:
    already = member(email_subscription_status=False, email_subscription_topics=[], sms_status="stop")
    assert deletion_request(already, NOW)["promotions_muted_at"] == NOW


def test_admin_mute_ignores_subscriptions() -> None:
    muted = admin_mute(member(), NOW)
    assert muted["promotions_muted_at"] == NOW
    assert muted["email_subscription_status"] is True
    assert muted["updated_at"] == NOW
    assert not is_profile_eligible(muted)
