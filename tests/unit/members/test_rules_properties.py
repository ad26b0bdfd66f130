"""Property tests: the rules are a fixpoint and keep `promotions_muted_at` consistent with the definitions."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cio_sync.members.contract import (
    SUBSCRIBED_SMS_STATUSES,
    UNSUBSCRIBED_SMS_STATUSES,
    MemberItem,
    validate_member,
)
from cio_sync.members.subscriptions import (
    admin_mute,
    apply_subscription_rules,
    deletion_request,
    has_subscribed_sms_status,
    is_email_subscribed,
    is_profile_eligible,
)
from tests.unit.members.strategies import (
    WRITABLE_FIELDS,
    apply_changes,
    changes,
    members,
    timestamps,
)

WRITES_WITH_MUTE = {**WRITABLE_FIELDS, "promotions_muted_at": st.one_of(st.none(), timestamps)}
NOW = "2030-01-01T00:00:00.000000Z"  # later than any generated timestamp, so a fresh mute is recognisable


def subscribes(old: MemberItem, new: MemberItem) -> bool:
    """The issue's definition, written independently of the implementation."""
    old_topics = set(old.get("email_subscription_topics") or [])
    new_topics = set(new.get("email_subscription_topics") or [])
    email = bool(new_topics) and new_topics != old_topics
    sms = old.get("sms_status") != new.get("sms_status") and new.get("sms_status") in SUBSCRIBED_SMS_STATUSES
    return email or sms


def unsubscribes(old: MemberItem, new: MemberItem) -> tuple[bool, bool]:
    email = (
        new.get("email_subscription_status") is False and old.get("email_subscription_status") is not False
    )
    sms = (
        old.get("sms_status") != new.get("sms_status") and new.get("sms_status") in UNSUBSCRIBED_SMS_STATUSES
    )
    return email, sms


@given(old=st.one_of(st.none(), members()), write=changes())
def test_rules_are_a_fixpoint(old: MemberItem | None, write: dict[str, Any]) -> None:
    new = apply_changes(old or {"id": "5f0c8e2a9b1d4c3e2f1a0b9c"}, write)
    once = apply_subscription_rules(old, new, NOW)
    assert apply_subscription_rules(old, once, NOW) == once


@given(old=st.one_of(st.none(), members()), write=changes(WRITES_WITH_MUTE), later=timestamps)
def test_re_applying_with_another_now_changes_nothing(
    old: MemberItem | None, write: dict[str, Any], later: str
) -> None:
    """The stream re-checks writes the model already ruled on, with the record's own time."""
    new = apply_changes(old or {"id": "5f0c8e2a9b1d4c3e2f1a0b9c"}, write)
    once = apply_subscription_rules(old, new, NOW)
    assert apply_subscription_rules(old, once, later) == once


@given(old=members(), write=changes(), later=timestamps)
def test_writing_back_the_decided_mute_changes_nothing(
    old: MemberItem, write: dict[str, Any], later: str
) -> None:
    raw = apply_changes(old, write)
    decided = apply_subscription_rules(old, raw, NOW)["promotions_muted_at"]
    written_back = {**raw, "promotions_muted_at": decided}
    assert apply_subscription_rules(raw, written_back, later) == written_back


@given(old=members(), write=changes())
def test_each_write_sets_the_mute_exactly_as_defined(old: MemberItem, write: dict[str, Any]) -> None:
    new = apply_changes(old, write)
    result = apply_subscription_rules(old, new, NOW)
    unsub_email, unsub_sms = unsubscribes(old, new)
    adjusted_email = is_email_subscribed(result)
    adjusted_sms = has_subscribed_sms_status(result)
    mutes = (
        (unsub_email and unsub_sms)
        or (unsub_sms and not adjusted_email)
        or (unsub_email and not adjusted_sms)
    )
    if mutes:
        assert result["promotions_muted_at"] == NOW
    elif subscribes(old, new) and new.get("promotions_muted_at") is not None:
        assert result["promotions_muted_at"] is None
    else:
        assert result["promotions_muted_at"] == new.get("promotions_muted_at")
    if unsub_email:
        assert result["email_subscription_topics"] == []
    if unsub_sms:
        assert result["sms_subscription_topics"] == []
    validate_member(result)


@given(start=members(), writes=st.lists(changes(), min_size=1, max_size=12))
def test_sequences_of_writes_keep_the_mute_consistent(
    start: MemberItem, writes: list[dict[str, Any]]
) -> None:
    state = apply_subscription_rules(None, start, NOW)
    for step, write in enumerate(writes):
        now = f"2031-01-01T00:00:{step:02d}.000000Z"
        new = apply_changes(state, write)
        result = apply_subscription_rules(state, new, now)
        if result["promotions_muted_at"] == now:
            # A fresh mute only ever lands on a member subscribed to neither channel.
            assert not is_email_subscribed(result)
            assert not has_subscribed_sms_status(result)
            assert not is_profile_eligible(result)
        if state["promotions_muted_at"] is not None and result["promotions_muted_at"] is None:
            # An unmute only ever comes from subscribing.
            assert subscribes(state, new)
        old_topics = set(state.get("email_subscription_topics") or [])
        new_topics = set(new.get("email_subscription_topics") or [])
        if new_topics and new_topics != old_topics and not unsubscribes(state, new)[0]:
            # Choosing topics is how members subscribe to email.
            assert is_email_subscribed(result)
        validate_member(result)
        state = result


@given(item=members(), now=timestamps)
def test_deletion_request_and_admin_mute_always_leave_the_member_muted(item: MemberItem, now: str) -> None:
    assert not is_profile_eligible(deletion_request(item, now))
    assert admin_mute(item, now)["promotions_muted_at"] == now
