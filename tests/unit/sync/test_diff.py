"""The change diff, row by row of the issue's table."""

from __future__ import annotations

from typing import Any

from cio_sync.members.contract import MemberItem
from cio_sync.members.subscriptions import web_signup
from cio_sync.sync.diff import diff, profile_changed
from cio_sync.sync.intents import SendEmail, SyncProfile, TrackEvent, is_ulid, ulid_timestamp_ms
from cio_sync_local.member_factory import LATER, MEMBER_ID, NOW, member

RECORD = "c81e728d9d4c2f636f067f89cc14862c"
AT_MS = 1764175075123


def kinds(old: MemberItem | None, new: MemberItem | None) -> list[str]:
    return [intent.TYPE for intent in diff(old, new, RECORD, AT_MS)]


def changed(old: MemberItem, **changes: Any) -> MemberItem:
    return {**old, **changes}


def test_insert_of_an_eligible_member_syncs() -> None:
    intents = diff(None, member(), RECORD, AT_MS)
    assert len(intents) == 1
    assert isinstance(intents[0], SyncProfile)
    assert intents[0].member_id == MEMBER_ID


def test_insert_of_an_ineligible_member_does_nothing() -> None:
    assert kinds(None, member(email_subscription_status=False, sms_status="stop")) == []
    assert kinds(None, member(promotions_muted_at=NOW)) == []
    assert kinds(None, member(email_subscription_status=None, mobile=None)) == []


def test_muting_syncs_which_deletes() -> None:
    assert kinds(member(), member(promotions_muted_at=NOW)) == ["sync_profile"]


def test_muting_an_already_ineligible_member_still_syncs() -> None:
    unsubscribed = member(email_subscription_status=False, sms_status="stop")
    assert kinds(unsubscribed, changed(unsubscribed, promotions_muted_at=NOW)) == ["sync_profile"]


def test_a_deletion_request_of_an_already_muted_member_still_syncs_so_it_is_suppressed() -> None:
    muted = member(email_subscription_status=False, sms_status="stop", promotions_muted_at=NOW)
    assert kinds(muted, changed(muted, deletion_requested_at=LATER)) == ["sync_profile"]
    requested = changed(muted, deletion_requested_at=LATER)
    assert kinds(requested, changed(requested, last_authenticated_at=LATER)) == []


def test_unmuting_syncs_then_tracks_the_resubscribe_event() -> None:
    intents = diff(member(promotions_muted_at=NOW), member(), RECORD, AT_MS)
    assert [intent.TYPE for intent in intents] == ["sync_profile", "track_event"]
    event = intents[1]
    assert isinstance(event, TrackEvent)
    assert event.name == "promotions_resubscribe"
    assert event.data == {}
    assert event.timestamp == AT_MS // 1000
    assert event.member_id == MEMBER_ID


def test_unmuting_a_member_subscribed_to_nothing_tracks_no_event() -> None:
    # An event for a member without a profile would create one in Customer.io.
    unsubscribed = member(email_subscription_status=False, sms_status="stop", promotions_muted_at=NOW)
    assert kinds(unsubscribed, changed(unsubscribed, promotions_muted_at=None)) == ["sync_profile"]


def test_a_payload_change_of_an_eligible_member_syncs() -> None:
    assert kinds(member(), changed(member(), first_name="Grace")) == ["sync_profile"]
    assert kinds(member(), changed(member(), email_subscription_topics=["news"])) == ["sync_profile"]
    assert kinds(member(), changed(member(), last_messaged_at=LATER)) == ["sync_profile"]


def test_a_change_outside_the_payload_does_nothing() -> None:
    assert kinds(member(), changed(member(), email_subscription_topics=["community"])) == []
    assert kinds(member(), changed(member(), first_name="<b>Ada</b>")) == []  # same after stripping
    assert kinds(member(), changed(member(), updated_at="2026-01-02T03:04:05.999999Z")) == []  # same second


def test_a_payload_change_of_an_ineligible_member_does_nothing() -> None:
    muted = member(promotions_muted_at=NOW)
    assert kinds(muted, changed(muted, first_name="Grace")) == []


def test_losing_eligibility_by_unsubscribing_syncs() -> None:
    email_only = member(sms_status=None)
    assert kinds(email_only, changed(email_only, email_subscription_status=False)) == ["sync_profile"]


def test_gaining_eligibility_without_a_mute_change_syncs_without_an_event() -> None:
    assert kinds(member(email_subscription_status=False, sms_status="stop"), member()) == ["sync_profile"]


def test_losing_the_mobile_of_an_sms_only_member_syncs() -> None:
    sms_only = member(email_subscription_status=None)
    assert kinds(sms_only, changed(sms_only, mobile=None)) == ["sync_profile"]


def test_a_password_change_sends_the_password_updated_email() -> None:
    old = member(password_updated_at=NOW)
    intents = diff(old, changed(old, password_updated_at=LATER), RECORD, AT_MS)
    assert len(intents) == 1
    email = intents[0]
    assert isinstance(email, SendEmail)
    assert email.kind == "password_updated"
    assert email.member_id == MEMBER_ID
    assert kinds(member(), changed(member(), password_updated_at=LATER)) == ["send_email"]


def test_a_password_change_sends_the_email_even_without_a_profile() -> None:
    muted = member(promotions_muted_at=NOW)
    assert kinds(muted, changed(muted, password_updated_at=LATER)) == ["send_email"]


def test_no_password_email_on_insert_removal_unchanged_time_or_without_an_address() -> None:
    assert kinds(None, member(password_updated_at=NOW)) == ["sync_profile"]
    assert kinds(member(password_updated_at=NOW), None) == ["sync_profile"]
    old = member(password_updated_at=NOW)
    assert kinds(old, changed(old, first_name="Grace")) == ["sync_profile"]
    no_email = member(email=None, password_updated_at=NOW)
    assert kinds(no_email, changed(no_email, password_updated_at=LATER)) == []


def test_removal_syncs_which_deletes() -> None:
    assert kinds(member(), None) == ["sync_profile"]
    assert kinds(member(promotions_muted_at=NOW), None) == ["sync_profile"]
    assert diff(member(), None, RECORD, AT_MS)[0].member_id == MEMBER_ID


def test_nothing_to_nothing_and_no_op_writes_are_empty() -> None:
    assert diff(None, None, RECORD, AT_MS) == []
    assert diff(member(), member(), RECORD, AT_MS) == []


def test_everything_at_once_is_ordered_sync_event_email() -> None:
    old = member(promotions_muted_at=NOW, password_updated_at=NOW)
    assert kinds(old, changed(old, promotions_muted_at=None, password_updated_at=LATER, first_name="G")) == [
        "sync_profile",
        "track_event",
        "send_email",
    ]


def test_intent_ids_are_deterministic_distinct_ulids() -> None:
    old = member(promotions_muted_at=NOW, password_updated_at=NOW)
    new = changed(old, promotions_muted_at=None, password_updated_at=LATER)
    first, replay = diff(old, new, RECORD, AT_MS), diff(old, new, RECORD, AT_MS)
    assert first == replay
    ids = [intent.intent_id for intent in first]
    assert len(set(ids)) == 3
    assert all(is_ulid(intent_id) and ulid_timestamp_ms(intent_id) == AT_MS for intent_id in ids)
    other_record = diff(old, new, "another-record", AT_MS)
    assert not {intent.intent_id for intent in other_record} & set(ids)


def test_an_attribute_that_breaks_the_contract_is_compared_as_it_is_sent_null() -> None:
    broken = changed(member(), last_messaged_at="last tuesday")
    assert kinds(member(), broken) == []  # null before, null after: Customer.io's copy does not change
    assert kinds(broken, changed(broken, first_name="Grace")) == ["sync_profile"]
    assert kinds(broken, broken) == []


def test_profile_changed() -> None:
    assert profile_changed(None, member())
    assert not profile_changed(None, None)
    assert profile_changed(member(), None)
    assert not profile_changed(member(), changed(member(), password_updated_at=LATER))


def test_a_login_syncs_once_a_day_not_on_every_login() -> None:
    signed_up = web_signup({"email": "a@example.org"}, "2026-11-26T08:00:00.000000Z")
    morning = {
        **signed_up,
        "last_authenticated_at": "2026-11-26T09:00:00.000000Z",
        "updated_at": "2026-11-26T09:00:00.000000Z",
    }
    noon = {
        **morning,
        "last_authenticated_at": "2026-11-26T12:00:00.000000Z",
        "updated_at": "2026-11-26T12:00:00.000000Z",
    }
    tomorrow = {
        **noon,
        "last_authenticated_at": "2026-11-27T07:00:00.000000Z",
        "updated_at": "2026-11-27T07:00:00.000000Z",
    }
    assert diff(morning, noon, "r1", 1_790_000_000_000) == []  # rides along with the next real change
    assert [i.TYPE for i in diff(noon, tomorrow, "r2", 1_790_000_000_000)] == ["sync_profile"]
    # A real change carries the latest timestamps with it; a zero window syncs every login.
    renamed = {**noon, "first_name": "Grace"}
    assert [i.TYPE for i in diff(morning, renamed, "r3", 1_790_000_000_000)] == ["sync_profile"]
    assert [i.TYPE for i in diff(morning, noon, "r4", 1_790_000_000_000, volatile_window_s=0)] == [
        "sync_profile"
    ]


def test_re_stamping_a_muted_member_costs_nothing() -> None:
    signed_up = web_signup({"email": "a@example.org"}, "2026-11-26T08:00:00.000000Z")
    muted = {**signed_up, "promotions_muted_at": "2026-11-26T09:00:00.000000Z"}
    restamped = {**muted, "promotions_muted_at": "2026-11-26T10:00:00.000000Z"}
    assert diff(muted, restamped, "r1", 1_790_000_000_000) == []


def test_a_timestamp_written_by_a_clock_behind_syncs_at_once() -> None:
    """The state machine's volatile-ahead: a touch from a writer whose clock runs behind moved `updated_at`
    back within the day; riding along, it left the profile ahead of the item, which no lag allows."""
    signed_up = web_signup({"email": "a@example.org"}, "2026-11-26T08:00:00.000000Z")
    noon = {**signed_up, "updated_at": "2026-11-26T12:00:00.000000Z"}
    behind = {**noon, "updated_at": "2026-11-26T11:00:00.000000Z"}
    assert [i.TYPE for i in diff(noon, behind, "r1", 1_790_000_000_000)] == ["sync_profile"]
    assert diff(behind, noon, "r2", 1_790_000_000_000) == []  # forward within the day still rides along
