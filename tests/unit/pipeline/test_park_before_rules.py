"""A record parked before its subscription rules ran still gets their decision (review 41 of issues 21/22).

Two ways a sound record used to be parked with no decision made or kept: its time budget ran out before
its rules ran (the handler's timer may fire at any point, "start" here), or DynamoDB refused the rules'
write-back (an item the stamps push over 400 KB). For a member who unsubscribed from both channels by a
raw write the table then never got its opt-out stamps, and a late `subscribed` echo of an earlier opt-in
identify was applied by the consent function: an opt-out undone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from cio_sync.adapters.pending_decisions import DynamoPendingDecisions
from cio_sync.customerio.reporting import ReportingEvent
from cio_sync.members.contract import MemberItem, parse_iso
from cio_sync.members.subscriptions import web_signup
from cio_sync.pipeline.consent import ConsentPolicy, apply_event
from cio_sync.pipeline.member_stream import DecisionsNotKept, PendingDecision
from cio_sync.sync.diff import DEFAULT_VOLATILE_WINDOW_S
from tests.unit.adapters.test_pending_decisions import TABLE, StubClient

from .fakes import BudgetRunsOut, FakePending
from .race_harness import MEMBER, RaceHarness
from .table_sim import SimTable
from .test_budget_after_rules import HISTORIES, PARKED, _stream

UNSUBSCRIBE_FROM_BOTH = {"email_subscription_status": False, "sms_status": "stop"}
NOT_WRITTEN = "cannot be handled: its rules' decision could not be written (ItemTooLarge)"


def _on_both_channels() -> MemberItem:
    item = web_signup(
        {"id": MEMBER, "email": "someone@example.org", "mobile": "+15555550123"},
        "2026-09-01T09:00:00.000000Z",
    )
    item.update({"sms_status": "active", "sms_subscription_topics": ["general", "voting"]})
    return item


def _drain(harness: RaceHarness) -> None:
    """The write-backs' own records, and any write still owed its decision, with time to spare."""
    while harness.cursor < len(harness.table.records):
        _stream(harness, harness.table.records[harness.cursor :], BudgetRunsOut(0, "none"))


class ItemTooLarge(Exception):
    """What the adapter re-raises for a refused request (adapters/member_table.py, _REFUSED_CODES)."""


class RefusingTable(SimTable):
    """Refuses the next `refusals` rule write-backs, as DynamoDB refuses an update past 400 KB."""

    refusals = 0

    def write_rule_decisions(
        self, member_id: str, expected: Mapping[str, Any], decided: Mapping[str, Any]
    ) -> bool:
        if self.refusals:
            self.refusals -= 1
            raise ItemTooLarge
        return super().write_rule_decisions(member_id, expected, decided)


class ConsentOnTable:
    """The consent function's member port over the harness's table (MemberConsent)."""

    def __init__(self, table: SimTable) -> None:
        self.table = table

    def read(self, member_id: str) -> Mapping[str, Any] | None:
        return self.table.items.get(member_id)

    def write(self, member_id: str, updated_at: str | None, changes: Mapping[str, Any]) -> bool:
        if self.table.items[member_id].get("updated_at") != updated_at:
            return False
        self.table.raw_write(member_id, changes)
        return True


def _late_subscribed_echo(harness: RaceHarness) -> str:
    """Customer.io's `subscribed` event a minute after the unsubscribe: the echo of an opt-in identify
    read before it. Handled by the consent function on the table as the stream left it."""
    unsubscribed = parse_iso(harness.oracle["email_opt_out_at"]) + timedelta(minutes=1)
    at = int(unsubscribed.timestamp())
    event = ReportingEvent("e1", "customer", "subscribed", at, MEMBER, received_at=at + 1)
    policy = ConsentPolicy({}, False, None, "placeholder")
    return apply_event(event, ConsentOnTable(harness.table), policy)


def test_an_unsubscribe_parked_before_its_rules_still_stamps_the_opt_out() -> None:
    """Fails on the old code: the table never got email_opt_out_at / promotions_muted_at, nor the SMS
    topics cleared, and the late `subscribed` echo was applied (`applied`, status back to true)."""
    harness = RaceHarness(_on_both_channels())
    harness.drain()
    harness.write(UNSUBSCRIBE_FROM_BOTH)
    response = _stream(harness, harness.table.records[harness.cursor :], BudgetRunsOut(1, "start"))
    assert response == {"batchItemFailures": []}
    assert harness.publisher.parked == [PARKED]
    _drain(harness)
    assert harness.differences() == {}
    assert _late_subscribed_echo(harness) == "echo"
    assert harness.raw["email_subscription_status"] is False


@pytest.mark.parametrize("history", sorted(HISTORIES))
def test_a_write_parked_before_its_rules_passes_their_decision_to_the_next(history: str) -> None:
    """The first write's budget runs out before its rules ran, and a second write moved the item: the
    decision made for the park is carried to the second record. Fails on the old code for the topic pick
    (its unmute was lost) and the unsubscribe (its mute was lost under the rename)."""
    initial, first, second = HISTORIES[history]
    harness = RaceHarness(initial())
    harness.drain()
    harness.write(first)
    harness.write(second)
    records = harness.table.records[harness.cursor :]
    assert _stream(harness, records, BudgetRunsOut(1, "start")) == {"batchItemFailures": []}
    assert harness.publisher.parked == [PARKED]
    _drain(harness)
    assert harness.differences() == {}


@pytest.mark.parametrize("same_batch", [True, False], ids=["same batch", "next batch"])
def test_a_refused_write_back_is_parked_and_its_decision_kept_for_the_next_write(same_batch: bool) -> None:
    """DynamoDB refuses the unsubscribe's write-back; the park says the decision could not be written, and
    the member's next write (the item trimmed, say) is decided on top of it, in this batch or through the
    pending-decision store. Fails on the old code: the reason named only the error, and the next write was
    decided without the unsubscribe's decision (no opt-out stamp, SMS topics kept)."""
    table = RefusingTable()
    harness = RaceHarness(_on_both_channels(), table)
    harness.drain()
    harness.write(UNSUBSCRIBE_FROM_BOTH)
    table.refusals = 1
    if not same_batch:
        _stream(harness, harness.table.records[harness.cursor :], BudgetRunsOut(0, "none"))
    harness.write({"first_name": "Grace"})
    _drain(harness)
    if same_batch:
        # The unsubscribe's write-back waits for the later record of its batch, whose write-back is the
        # one refused: the member's next write writes the decision.
        harness.write({"last_name": "Hopper"})
        _drain(harness)
    assert harness.differences() == {}
    assert _late_subscribed_echo(harness) == "echo"
    assert harness.publisher.parked == [NOT_WRITTEN]


@pytest.mark.parametrize("point", ["start", "end"])
def test_a_password_update_parked_then_redelivered_sends_one_email(point: str) -> None:
    """Found by the state machine once it drew "start" (and reachable with "end"): a budget park queues the
    password email with the id a parked record gives it (position 1, after its resync), the redelivered
    record through the diff (position 0: a password change alone syncs no profile). Two ids, two emails.
    Fails on the old code: two distinct email intent ids."""
    harness = RaceHarness(_on_both_channels())
    harness.drain()
    harness.write({"password_updated_at": "2026-12-01T09:00:00.000000Z"})
    records = harness.table.records[harness.cursor :]
    day = DEFAULT_VOLATILE_WINDOW_S  # production's: `updated_at` alone rides along, no sync
    _stream(harness, records, BudgetRunsOut(1, point), day)
    assert harness.publisher.parked == [PARKED]
    harness.cursor -= len(records)  # Lambda redelivers the batch (a retry from an earlier record, say)
    _stream(harness, records, BudgetRunsOut(0, "none"), day)
    assert len(harness.publisher.emails) == 2
    assert len({email.intent_id for email in harness.publisher.emails}) == 1


def _broken_then(harness: RaceHarness, broken: object, repair: dict[str, Any], *, one_batch: bool) -> None:
    """A raw write gives the email status a value of the wrong type (parked), then `repair` fixes it:
    the two records in one batch, or each in its own (the status then travels in the pending store)."""
    harness.table.raw_write(MEMBER, {"email_subscription_status": broken})
    if not one_batch:
        _drain(harness)
        assert harness.publisher.parked
    harness.table.raw_write(MEMBER, repair)
    _drain(harness)


@pytest.mark.parametrize("one_batch", [True, False], ids=["one batch", "two batches"])
def test_an_unsubscribe_repairing_a_status_of_the_wrong_type_stamps_the_opt_out(one_batch: bool) -> None:
    """Found by the state machine (issue 21): another service writes `email_subscription_status: "yes"`
    (parked: it breaks the contract), then false. The repair was judged against no status at all, so no
    opt-out was stamped, and a late `subscribed` echo of an earlier opt-in identify re-subscribed the
    person. It is now judged against the valid status the broken one replaced."""
    harness = RaceHarness(_on_both_channels())
    harness.drain()
    _broken_then(harness, "yes", {"email_subscription_status": False}, one_batch=one_batch)
    assert harness.raw["email_subscription_status"] is False
    assert harness.raw.get("email_opt_out_at") is not None
    harness.oracle = dict(harness.raw)  # the echo is timed from the stamp the stream wrote
    assert _late_subscribed_echo(harness) == "echo"
    assert harness.raw["email_subscription_status"] is False


@pytest.mark.parametrize("one_batch", [True, False], ids=["one batch", "two batches"])
def test_a_removed_broken_status_stays_removed_and_ends_the_subscription(one_batch: bool) -> None:
    """Review of the first fix: a removal of the broken status was written back as `true` with a new
    opt-in stamp. The status stays absent (what the writer left), nothing opts the member in, and the end
    of a subscription the member had is stamped as an opt-out."""
    harness = RaceHarness(_on_both_channels())
    harness.drain()
    opted_in = harness.raw["email_opt_in_at"]
    _broken_then(harness, "no", {"email_subscription_status": None}, one_batch=one_batch)
    assert "email_subscription_status" not in harness.raw
    assert harness.raw["email_opt_in_at"] == opted_in
    assert harness.raw.get("email_opt_out_at") is not None


def test_true_over_a_broken_status_that_replaced_true_is_no_new_opt_in() -> None:
    """The member never stopped being subscribed: no fresh opt-in stamp (which would let a Customer.io
    opt-out made before it be dropped as stale)."""
    harness = RaceHarness(_on_both_channels())
    harness.drain()
    opted_in = harness.raw["email_opt_in_at"]
    _broken_then(harness, "yes", {"email_subscription_status": True}, one_batch=False)
    assert harness.raw["email_subscription_status"] is True
    assert harness.raw["email_opt_in_at"] == opted_in
    assert harness.raw.get("email_opt_out_at") is None


def _parked_then(
    harness: RaceHarness, parked: dict[str, Any], repair: dict[str, Any], *, one_batch: bool
) -> None:
    """A raw write `parked` breaks a rule input (parked), then `repair` fixes the item."""
    harness.table.raw_write(MEMBER, parked)
    if not one_batch:
        _drain(harness)
        assert harness.publisher.parked
    harness.table.raw_write(MEMBER, repair)
    _drain(harness)
    assert len(harness.publisher.parked) == 1


def _opted_out_for_good(harness: RaceHarness) -> None:
    assert harness.raw["email_subscription_status"] is False
    assert harness.raw["email_subscription_topics"] == []
    assert harness.raw.get("email_opt_out_at") is not None
    harness.oracle = dict(harness.raw)  # the echo is timed from the stamp the stream wrote
    assert _late_subscribed_echo(harness) == "echo"
    assert harness.raw["email_subscription_status"] is False


@pytest.mark.parametrize("one_batch", [True, False], ids=["one batch", "two batches"])
@pytest.mark.parametrize("repair", [{"sms_status": "active"}, {"sms_status": "active", "first_name": "Ada"}])
def test_an_email_opt_out_in_a_parked_write_is_ruled_for_its_repair(
    one_batch: bool, repair: dict[str, Any]
) -> None:
    """Issue 21: a raw write unsubscribes email and gives `sms_status` a value the contract refuses
    (parked); the next write repairs the SMS status. The repair was decided on its old image, where email
    was already false: no opt-out stamp, email topics kept, and a late `subscribed` echo re-subscribed the
    person. The parked write's valid part is now ruled and carried to the repair."""
    harness = RaceHarness(_on_both_channels())
    harness.drain()
    _parked_then(
        harness, {"email_subscription_status": False, "sms_status": "bogus"}, repair, one_batch=one_batch
    )
    assert harness.raw["sms_status"] == "active"
    _opted_out_for_good(harness)


@pytest.mark.parametrize("one_batch", [True, False], ids=["one batch", "two batches"])
def test_an_sms_stop_in_a_parked_write_mutes_a_member_off_email(one_batch: bool) -> None:
    """The sibling on SMS: email already off, a raw write stops SMS and adds a retired email topic
    (parked); the repair drops the topic. Both channels ended with no `promotions_muted_at`."""
    harness = RaceHarness(_on_both_channels())
    harness.table.raw_write(MEMBER, {"email_subscription_status": False})
    harness.drain()
    assert harness.raw["promotions_muted_at"] is None
    parked = {"sms_status": "stop", "email_subscription_topics": ["retired"]}
    _parked_then(harness, parked, {"email_subscription_topics": []}, one_batch=one_batch)
    assert harness.raw["sms_status"] == "stop"
    assert harness.raw["sms_subscription_topics"] == []
    assert harness.raw["promotions_muted_at"] is not None


@pytest.mark.parametrize("one_batch", [True, False], ids=["one batch", "two batches"])
@pytest.mark.parametrize("topics", [[], ["community"]], ids=["drops it", "keeps the rest"])
def test_an_email_opt_out_beside_a_broken_topic_list_is_ruled_for_its_repair(
    one_batch: bool, topics: list[str]
) -> None:
    """The email unsubscribe shares its write with a retired topic (parked); the repair fixes the list
    (restating the valid topic is no new pick: the item as the rules read it held it)."""
    harness = RaceHarness(_on_both_channels())
    harness.drain()
    parked = {"email_subscription_status": False, "email_subscription_topics": ["community", "retired"]}
    _parked_then(harness, parked, {"email_subscription_topics": topics}, one_batch=one_batch)
    if topics:
        harness.table.raw_write(MEMBER, {"email_subscription_topics": []})
        _drain(harness)
    _opted_out_for_good(harness)


@pytest.mark.parametrize("one_batch", [True, False], ids=["one batch", "two batches"])
@pytest.mark.parametrize("opt_out_with_repair", [True, False], ids=["in the repair", "after it"])
def test_a_resubscribe_in_a_parked_write_never_outlives_a_later_opt_out(
    one_batch: bool, opt_out_with_repair: bool
) -> None:
    """A parked write resubscribes email (its SMS status broken); the person opts out again, in the write
    that repairs the item or after it. The resubscribe is ruled (an opt-in), and the opt-out after it
    stands, stamped after it."""
    harness = RaceHarness(_on_both_channels())
    harness.table.raw_write(MEMBER, {"email_subscription_status": False})
    harness.drain()
    out_before = harness.raw["email_opt_out_at"]
    repair: dict[str, Any] = {"sms_status": "active"}
    if opt_out_with_repair:
        repair["email_subscription_status"] = False
    harness.table.raw_write(MEMBER, {"email_subscription_status": True, "sms_status": "bogus"})
    if not one_batch:
        _drain(harness)
    harness.table.raw_write(MEMBER, repair)
    if not opt_out_with_repair:
        harness.table.raw_write(MEMBER, {"email_subscription_status": False})
    _drain(harness)
    assert harness.raw["email_opt_in_at"] > out_before
    assert harness.raw["email_opt_out_at"] >= harness.raw["email_opt_in_at"]
    _opted_out_for_good(harness)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email_opt_out_at", Decimal(5)),
        ("email_opt_out_at", {Decimal(5)}),
        ("promotions_muted_at", Decimal(5)),
    ],
)
def test_a_decision_json_cannot_hold_never_fails_the_batch(field: str, value: object) -> None:
    """Issue 21: a raw write unsubscribes and puts a number (a Decimal once read from the stream) or a
    number set in a stamp; the item moves on (a write parked for its SMS status) before the decision is
    written, so it is kept, and keeping it raised TypeError: the whole batch failed, retried for the
    stream's day. Now the number stays out of the decision (the next image holds it), and the repair
    behind the park is decided: the opt-out is ruled, nothing is parked but the broken write."""
    harness = RaceHarness(_on_both_channels())
    harness.pending = DynamoPendingDecisions(StubClient(), TABLE, clock=lambda: 1_800_000_000.0)  # type: ignore[assignment]
    harness.drain()
    harness.table.raw_write(MEMBER, {"email_subscription_status": False, field: value})
    harness.table.raw_write(MEMBER, {"sms_status": "bogus"})
    mute = field == "promotions_muted_at"  # a rule input: that write is parked too, and repaired here
    harness.table.raw_write(MEMBER, {"sms_status": "active", **({field: None} if mute else {})})
    records = harness.table.records[harness.cursor :]
    assert _stream(harness, records, BudgetRunsOut(0, "none")) == {"batchItemFailures": []}
    assert len(harness.publisher.parked) == 1 + mute
    _drain(harness)
    assert harness.raw["email_subscription_status"] is False
    assert harness.raw["email_subscription_topics"] == []
    assert harness.raw["sms_status"] == "active"


class RefusingPending(FakePending):
    """A store that cannot hold a batch's first decision (as DynamoPendingDecisions names one it cannot
    encode), and keeps the others."""

    def keep(self, decisions: Sequence[PendingDecision]) -> None:
        super().keep(decisions[1:])
        if decisions:
            raise DecisionsNotKept(decisions[:1])


def test_a_decision_the_store_refuses_parks_its_record_and_the_batch_goes_on() -> None:
    """The unsubscribe's decision is owed (a later write moved the item first) and the store refuses it:
    that record is parked with the reason, the record behind it is decided on top in the same batch and
    published, and the batch succeeds. Fails on the old code: the error left the batch (a day of retries)."""
    harness = RaceHarness(_on_both_channels())
    harness.drain()
    harness.pending = RefusingPending()
    harness.write({"email_subscription_status": False})
    harness.write({"first_name": "Grace"})
    records = harness.table.records[harness.cursor :]
    track_before = len(harness.publisher.track)
    assert _stream(harness, records, BudgetRunsOut(0, "none")) == {"batchItemFailures": []}
    assert harness.publisher.parked == [
        "its rules' decision could not be kept (a value the store cannot encode)"
    ]
    assert len(harness.publisher.track) > track_before
    assert harness.raw["email_subscription_status"] is False
    assert harness.raw.get("email_opt_out_at") is not None
