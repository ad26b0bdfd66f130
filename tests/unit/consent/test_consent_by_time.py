"""The consent function's time rules against the review of issue 22: each test failed on the code before
its fix (the finding named in its docstring)."""

from __future__ import annotations

from cio_sync.members.raw_writes import decide as stream_decide
from cio_sync.members.subscriptions import apply_subscription_rules
from tests.unit.consent.signing import MEMBER, NOW
from tests.unit.consent.test_consent import FakeMembers, Stack, event, iso, member, policy

HOUR, DAY = 3600, 86_400


def test_an_unsubscribe_after_a_future_stamped_opt_in_is_applied() -> None:
    """F8: an opt-in stamped after the event's receipt (a writer's clock ahead) cannot make it stale."""
    s = Stack(FakeMembers(**{MEMBER: member(email_opt_in_at=iso(NOW + HOUR))}), policy())
    s.run(event("customer", "unsubscribed", at=NOW - 60))  # received at NOW
    assert s.members.items[MEMBER]["email_subscription_status"] is False


def test_a_redelivered_unsubscribe_after_its_opt_out_and_a_later_opt_in_writes_nothing() -> None:
    """The table holds this opt-out (or a later one) and an opt-in after it: the opt-in stamp, though after
    the event's receipt, is ordered, and the redelivery must not undo it."""
    s = Stack(
        FakeMembers(**{MEMBER: member(email_opt_in_at=iso(NOW + HOUR), email_opt_out_at=iso(NOW))}), policy()
    )
    s.run(event("customer", "unsubscribed", at=NOW))
    assert s.members.writes == []


def test_an_unsubscribe_older_than_an_opt_in_made_before_its_receipt_stays_stale() -> None:
    s = Stack(FakeMembers(**{MEMBER: member(email_opt_in_at=iso(NOW - 60))}), policy())
    s.run(event("customer", "unsubscribed", at=NOW - 120))
    assert s.members.writes == []


def run_through_the_stream(s: Stack, body: str, now: int) -> None:
    """The consent write, then what the stream function's rules make of it (old image -> new image) at
    `now`: they stamp `email_opt_out_at` unless the write carries its own."""
    before = dict(s.members.items[MEMBER])
    s.run(body)
    s.members.items[MEMBER] = dict(stream_decide(None, before, s.members.items[MEMBER], iso(now)).item)


def subscribed_to_both() -> FakeMembers:
    return FakeMembers(
        **{MEMBER: member(email_opt_in_at=iso(NOW - 30 * DAY), sms_status="active", mobile="+15555550100")}
    )


def test_unsubscribe_then_resubscribe_in_customerio_two_minutes_later_reaches_the_member() -> None:
    """F1: the opt-out was stamped when the stream processed it, and the person's own re-subscribe two
    minutes later fell in the echo window: dropped, then undone in Customer.io by the next sync."""
    s = Stack(subscribed_to_both(), policy())
    run_through_the_stream(s, event("customer", "unsubscribed", at=NOW), NOW + 5)
    assert s.members.items[MEMBER]["email_opt_out_at"] == iso(NOW)
    s.run(event("customer", "subscribed", at=NOW + 120))
    assert s.members.items[MEMBER]["email_subscription_status"] is True


def test_backlogged_unsubscribe_and_resubscribe_delivered_a_day_late_keep_the_resubscribe() -> None:
    """F1: the opt-out stamped a day late (the backlog's delivery) made the re-subscribe an hour after the
    unsubscribe look older than it: dropped as stale."""
    s = Stack(subscribed_to_both(), policy())
    run_through_the_stream(s, event("customer", "unsubscribed", at=NOW), NOW + DAY)
    s.run(event("customer", "subscribed", at=NOW + HOUR))
    assert s.members.items[MEMBER]["email_subscription_status"] is True


def test_after_a_table_opt_out_the_echo_window_still_drops_an_early_opt_in() -> None:
    """A table opt-out after Customer.io's moves `email_opt_out_at` on: an opt-in identify read before it
    may still echo back, so the window applies again."""
    s = Stack(subscribed_to_both(), policy())
    run_through_the_stream(s, event("customer", "unsubscribed", at=NOW), NOW + 5)
    item = s.members.items[MEMBER]
    back = apply_subscription_rules(item, {**item, "email_subscription_status": True}, iso(NOW + 60))
    s.members.items[MEMBER] = dict(
        apply_subscription_rules(back, {**back, "email_subscription_status": False}, iso(NOW + 90))
    )
    s.run(event("customer", "subscribed", at=NOW + 120))
    assert s.members.items[MEMBER]["email_subscription_status"] is False
