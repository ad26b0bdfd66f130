"""A member who requested deletion and subscribed again: the sweep's read-back reaches them like the
webhook does (review of issue 22, F2: both dropped such a member's opt-outs as "deleted")."""

from __future__ import annotations

from cio_sync.customerio.people import StoredProfile
from cio_sync.pipeline.consent_readback import read_back
from tests.unit.consent.signing import MEMBER, NOW
from tests.unit.consent.test_consent import FakeMembers, iso, member, policy

DAY = 86_400


def test_read_back_reaches_a_member_who_requested_deletion_then_resubscribed() -> None:
    item = member(deletion_requested_at=iso(NOW - 10 * DAY), email_opt_in_at=iso(NOW - 5 * DAY))
    writer = FakeMembers(**{MEMBER: item})
    profile = StoredProfile(attributes={"unsubscribed": "true"}, timestamps={"unsubscribed": NOW})
    results, _ = read_back(MEMBER, profile, item, policy(), writer)
    assert results == ["applied"]
    assert writer.items[MEMBER]["email_subscription_status"] is False


def test_read_back_leaves_a_member_still_muted_by_their_deletion_request_alone() -> None:
    item = member(deletion_requested_at=iso(NOW - DAY), promotions_muted_at=iso(NOW - DAY))
    writer = FakeMembers(**{MEMBER: item})
    profile = StoredProfile(attributes={"unsubscribed": "true"}, timestamps={"unsubscribed": NOW})
    assert read_back(MEMBER, profile, item, policy(), writer)[0] == ["deleted"]
    assert writer.writes == []
