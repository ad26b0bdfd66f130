"""The consent function's time rules against the review of issue 22: each test failed on the code before
its fix (the finding named in its docstring)."""

from __future__ import annotations

from tests.unit.consent.signing import MEMBER, NOW
from tests.unit.consent.test_consent import FakeMembers, Stack, event, iso, member, policy

HOUR, DAY = 3600, 86_400


def test_an_unsubscribe_after_a_future_stamped_opt_in_is_applied() -> None:
    """F8: an opt-in stamped after the event's receipt (a writer's clock ahead) cannot make it stale."""
    s = Stack(FakeMembers(**{MEMBER: member(email_opt_in_at=iso(NOW + HOUR))}), policy())
    s.run(event("customer", "unsubscribed", at=NOW - 60))  # received at NOW
    assert s.members.items[MEMBER]["email_subscription_status"] is False


def test_an_unsubscribe_older_than_an_opt_in_made_before_its_receipt_stays_stale() -> None:
    s = Stack(FakeMembers(**{MEMBER: member(email_opt_in_at=iso(NOW - 60))}), policy())
    s.run(event("customer", "unsubscribed", at=NOW - 120))
    assert s.members.writes == []

