"""The consent read-back (pipeline/consent_readback.py): a profile's consent and its timestamps against the
member, decided by the consent function's by-time rule, written through the MemberConsent port."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from cio_sync.customerio.people import StoredProfile, parse_profiles
from cio_sync.customerio.reporting import centre_topic_names, parse_topic_map
from cio_sync.members.contract import MemberItem, to_iso
from cio_sync.pipeline.consent import ConsentPolicy
from cio_sync.pipeline.consent_readback import (
    APPLIED,
    MALFORMED_PREFERENCES,
    NO_TIMESTAMP,
    UNORDERED,
    WOULD_APPLY,
    read_back,
)

from .sweep_fakes import FakeConsent, FakeMembers

MEMBER = "5f0e3a9b8c7d6e5f4a3b2c1d"
PLACEHOLDER = "cio-sync-transactional"
OPTED_IN = 1_790_000_000  # when the table last saw the member opt in
UPDATED = "2026-10-01T00:00:00.000000Z"
POLICY = ConsentPolicy(centre_topic_names(parse_topic_map("news=1,lifestyle=2")), False, None, PLACEHOLDER)


def iso(at: int) -> str:
    return to_iso(datetime.fromtimestamp(at, UTC))


def opted_out(at: int) -> dict[str, str]:
    """What a Customer.io opt-out writes beside the change: its own time, marked as Customer.io's."""
    return {"email_opt_out_at": iso(at), "email_cio_opt_out_at": iso(at)}


def member(**fields: Any) -> MemberItem:
    item: MemberItem = {
        "id": MEMBER,
        "updated_at": UPDATED,
        "email_subscription_status": True,
        "email_subscription_topics": ["news", "lifestyle"],
        "email_opt_in_at": iso(OPTED_IN),
    }
    item.update(fields)
    return item


def profile(stamps: dict[str, Any] | None = None, **attributes: str) -> StoredProfile:
    return StoredProfile(attributes, stamps or {})


def run(item: MemberItem, stored: StoredProfile, member_id: str = MEMBER) -> tuple[list[str], FakeConsent]:
    members = FakeMembers({member_id: dict(item)})
    writer = FakeConsent(members)
    results, _ = read_back(member_id, stored, item, POLICY, writer)
    return results, writer


def test_an_opt_out_newer_than_the_opt_in_ends_the_email_subscription() -> None:
    results, writer = run(member(), profile({"unsubscribed": OPTED_IN + 60}, unsubscribed="true"))
    assert results == [APPLIED]
    assert writer.writes == [(MEMBER, {"email_subscription_status": False, **opted_out(OPTED_IN + 60)})]
    # Through the subscription rules: the email topics go, and a member with no SMS is muted.
    after = writer.members.items[MEMBER]
    assert after["email_subscription_topics"] == []
    assert after["promotions_muted_at"] is not None


def test_an_opt_out_wholly_before_the_members_last_opt_in_writes_nothing() -> None:
    results, writer = run(member(), profile({"unsubscribed": OPTED_IN - 3600}, unsubscribed="true"))
    assert results == ["stale"]
    assert writer.writes == []


@pytest.mark.parametrize("seconds_after_opt_out", [0, 60, 14 * 60])
def test_our_own_identifys_unsubscribed_false_within_the_echo_window_resubscribes_nobody(
    seconds_after_opt_out: int,
) -> None:
    opted_out = OPTED_IN + 86_400
    item = member(
        email_subscription_status=False, email_subscription_topics=[], email_opt_out_at=iso(opted_out)
    )
    stored = profile({"unsubscribed": opted_out + seconds_after_opt_out}, unsubscribed="false")
    results, writer = run(item, stored)
    assert results in (["echo"], ["stale"])
    assert writer.writes == []


def test_an_identify_stamped_with_the_opt_in_is_our_echo_and_writes_nothing() -> None:
    item = member(email_subscription_status=False, email_opt_out_at=iso(OPTED_IN + 10))
    results, writer = run(item, profile({"unsubscribed": OPTED_IN}, unsubscribed="false"))
    assert results == ["stale"]
    assert writer.writes == []


def test_a_resubscribe_made_in_customer_io_well_after_the_opt_out_is_read_back() -> None:
    opted_out = OPTED_IN + 86_400
    item = member(
        email_subscription_status=False, email_subscription_topics=[], email_opt_out_at=iso(opted_out)
    )
    results, writer = run(item, profile({"unsubscribed": opted_out + 3600}, unsubscribed="false"))
    assert results == [APPLIED]
    assert writer.writes == [(MEMBER, {"email_subscription_status": True})]


def test_an_opt_in_for_a_member_the_table_never_saw_opt_out_is_not_ordered_and_not_written() -> None:
    item = member(email_subscription_status=False, email_subscription_topics=[])
    results, writer = run(item, profile({"unsubscribed": OPTED_IN + 86_400}, unsubscribed="false"))
    assert results == [UNORDERED]
    assert writer.writes == []


def test_topics_changed_in_the_preference_centre_are_followed_by_the_members_topics() -> None:
    centre = json.dumps({"topics": {"topic_1": False, "topic_2": True, "topic_9": False}})
    stamps = {"cio_subscription_preferences": OPTED_IN + 600}
    results, writer = run(
        member(), profile(stamps, cio_subscription_preferences=centre, unsubscribed="false")
    )
    assert results == [APPLIED]
    assert writer.writes == [
        (MEMBER, {"email_subscription_topics": ["lifestyle"], **opted_out(OPTED_IN + 600)})
    ]


def test_a_topic_turned_on_in_the_preference_centre_after_the_opt_out_window_is_added() -> None:
    opted_out = OPTED_IN + 60
    item = member(email_subscription_topics=["news"], email_opt_out_at=iso(opted_out))
    centre = json.dumps({"topics": {"topic_1": True, "topic_2": True}})
    stamps = {"cio_subscription_preferences": opted_out + 3600}
    results, writer = run(item, profile(stamps, cio_subscription_preferences=centre))
    assert results == [APPLIED]
    assert writer.writes == [(MEMBER, {"email_subscription_topics": ["lifestyle", "news"]})]


def test_preferences_the_member_already_has_make_no_event() -> None:
    centre = json.dumps({"topics": {"topic_1": True, "topic_2": True}})
    stored = profile({"cio_subscription_preferences": OPTED_IN + 600}, cio_subscription_preferences=centre)
    results, writer = run(member(), stored)
    assert results == []
    assert writer.writes == []


@pytest.mark.parametrize(
    ("member_id", "reason"), [(PLACEHOLDER, "placeholder"), ("not-a-member", "not_a_member")]
)
def test_the_placeholder_and_ids_that_are_not_members_are_left_alone(member_id: str, reason: str) -> None:
    results, writer = run(
        member(id=member_id), profile({"unsubscribed": OPTED_IN + 60}, unsubscribed="true"), member_id
    )
    assert results == [reason]
    assert writer.writes == []


def test_a_member_who_asked_to_be_deleted_is_left_alone() -> None:
    item = member(deletion_requested_at=iso(OPTED_IN + 5), promotions_muted_at=iso(OPTED_IN + 5))
    results, writer = run(item, profile({"unsubscribed": OPTED_IN + 60}, unsubscribed="true"))
    assert results == ["deleted"]
    assert writer.writes == []


@pytest.mark.parametrize("stamp", [None, "yesterday", 0, True])
def test_a_missing_or_malformed_timestamp_is_a_clear_outcome_and_writes_nothing(stamp: object) -> None:
    customer: dict[str, Any] = {"id": MEMBER, "attributes": {"unsubscribed": "true"}}
    if stamp is not None:
        customer["timestamps"] = {"unsubscribed": stamp}
    stored = parse_profiles({"customers": [{"customer": customer}]})[MEMBER]
    results, writer = run(member(), stored)
    assert results == [NO_TIMESTAMP]
    assert writer.writes == []


@pytest.mark.parametrize("centre", ["{not json", '{"topics": ["topic_1"]}', '{"topics": {"topic_1": "yes"}}'])
def test_unreadable_preferences_are_a_clear_outcome_and_write_nothing(centre: str) -> None:
    stored = profile({"cio_subscription_preferences": OPTED_IN + 600}, cio_subscription_preferences=centre)
    results, writer = run(member(), stored)
    assert results == [MALFORMED_PREFERENCES]
    assert writer.writes == []


def test_without_a_writer_it_only_says_what_it_would_write() -> None:
    results, changes = read_back(
        MEMBER, profile({"unsubscribed": OPTED_IN + 60}, unsubscribed="true"), member(), POLICY, None
    )
    assert results == [WOULD_APPLY]
    assert changes == {"email_subscription_status": False}


def test_it_decides_again_on_the_members_current_item() -> None:
    """The sweep's read is stale: the member opted in again since, after Customer.io's opt-out."""
    stale_read = member()
    now = member(email_opt_in_at=iso(OPTED_IN + 3600), updated_at="2026-10-02T00:00:00.000000Z")
    writer = FakeConsent(FakeMembers({MEMBER: now}))
    results, _ = read_back(
        MEMBER, profile({"unsubscribed": OPTED_IN + 60}, unsubscribed="true"), stale_read, POLICY, writer
    )
    assert results == ["stale"]
    assert writer.writes == []
