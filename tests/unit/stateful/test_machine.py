"""The state machine over every writer (tests/unit/stateful/machine.py), in the unit suite.

`CIO_SYNC_STATEFUL_EXAMPLES` runs it longer (docs/benchmarks.md has both runs' cost: the default, with the
mutation table, about 20 s of CPU).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from .machine import PipelineMachine
from .test_mutations import Draws
from .verdict import MEMBERS, POISON

EXAMPLES = int(os.environ.get("CIO_SYNC_STATEFUL_EXAMPLES", "400"))

TestPipeline = PipelineMachine.TestCase
TestPipeline.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_a_member_signed_up_again_under_the_same_id_gets_its_own_opt_in() -> None:
    """Review 21, found by the machine: sign up, a model write, the item deleted, the same id signs up again
    in the model write's second. The model write's write-back, conditioned on the rule inputs and
    `updated_at` alone, landed on the new item: it kept the first life's `email_opt_in_at`."""
    member = MEMBERS[0]
    state = PipelineMachine()
    state.members_sign_up(kinds=["web", "web", "web"], settled=False)
    state.model_write(data=Draws(["birthdate"], "2000-02-29"), kind="update", member=member)
    state.raw_delete(member=member)
    state.sign_up(member=member, sms=False, topics=[])
    state.teardown()


@pytest.mark.parametrize("statuses", [(False, True), (False,)], ids=["false then true", "false"])
def test_a_repair_of_an_invalid_status_is_judged_on_the_status_it_replaced(
    statuses: tuple[bool, ...],
) -> None:
    """Found by the machine: a sign-up's topic pick subscribes; a contract-breaking status ("yes") is parked;
    a write of `false` (clock an hour behind) is an opt-out from the subscribed status the bad value never
    validly replaced, so `email_opt_out_at` is stamped (the oracle first judged it from no status at all).
    "false" alone, drawn by one CI run's sample: with no decision owed to the write before the bad one, the
    product judged it against no status and stamped nothing (rule_enforcement.carry_past_park)."""
    state = PipelineMachine()
    state.members_sign_up(kinds=["web", "web", "web"], settled=False)
    state.break_rule_inputs(breaker=2)
    for status in statuses:
        state.raw_write(data=Draws(["email_subscription_status"], status), member=POISON, skew=-3600)
    state.teardown()
    assert state.table.items[POISON].get("email_opt_out_at") is not None


@pytest.mark.parametrize("skew", [0, -1])
def test_a_removal_repairing_an_invalid_status_in_the_sign_ups_second_is_an_opt_out(skew: int) -> None:
    """Found by a hunt: sign-up, a broken status ("yes", parked), then a write removing the status stamped
    with the sign-up's own `updated_at`: the item was the sign-up's version again in every field the
    rules read, so the sign-up's decision (subscribe) landed on it. The contract now says a writer never
    restores a version (docs/member-contract.md); the machine's writers keep it, and the removal is an
    opt-out."""
    state = PipelineMachine()
    state.members_sign_up(kinds=["web", "web", "web"], settled=False)
    state.break_rule_inputs(breaker=2)
    state.raw_write(
        data=Draws(["first_name", "email_subscription_status"], "Ada", None), member=POISON, skew=skew
    )
    state.teardown()
    assert state.table.items[POISON].get("email_opt_out_at") is not None


def test_a_second_sweep_in_the_same_second_repairs_what_the_first_could_not_see() -> None:
    """Found by a hunt: a sweep queued the sign-ups' missing profiles; in the same second, after someone
    edited a profile in Customer.io, the last sweep's repair had the same intent ids (the run id was the
    second) and SQS FIFO dropped it as a duplicate: the edit stayed. Run ids now name the invocation."""
    member = MEMBERS[0]
    state = PipelineMachine()
    state.members_sign_up(kinds=["web", "web", "none"], settled=False)
    state.stream(count=2, crash_after=None)
    state.sweep(check_attributes=False)
    state.stream(count=1, crash_after=None)
    state.track(crash=False)
    state.someone_edits_customerio(member=member, remove=False)
    state.teardown()
    assert "last_name" not in state.cio.people[member].attributes


def test_an_opt_out_beside_a_broken_sms_status_is_ruled_for_the_repair() -> None:
    """Issue 21: a raw write unsubscribes email and breaks `sms_status` (parked); the write repairing it
    was decided on an image already showing false: no `email_opt_out_at`, email topics kept. The oracle
    took the park for no write at all, so the machine agreed; now both rule the parked write's valid part."""
    state = PipelineMachine()
    state.members_sign_up(kinds=["web", "web", "web"], settled=False)
    state.break_rule_inputs(breaker=3)
    state.raw_write(data=Draws(["sms_status"], "active"), member=POISON, skew=0)
    state.teardown()
    assert state.table.items[POISON].get("email_opt_out_at") is not None
    assert state.table.items[POISON]["email_subscription_topics"] == []


def test_a_late_identify_is_repaired_by_a_sweep_in_the_first_sweeps_second() -> None:
    """Found by a hunt, same cause: a sweep queued the sign-ups, Customer.io applied one identify late
    (after the next), and the teardown's sweep, in the same second, had its repair dropped as a duplicate."""
    state = PipelineMachine()
    state.members_sign_up(kinds=["web", "web", "sms"], settled=False)
    state.sweep(check_attributes=False)
    state.track_stalls()
    state.customerio_track_fault(fault="late", times=1)
    state.teardown()


@pytest.mark.parametrize("between", [False, True], ids=["one batch", "two batches"])
def test_a_resubscribe_in_the_opt_outs_second_keeps_its_opt_in_stamp(between: bool) -> None:
    """Found by a hunt: subscribed at 10:00:00, an email unsubscribe and a topic pick by another service in
    the same second; the rules' write-back resubscribed without moving `email_opt_in_at` (already that
    second), so its own record, read a second later, looked like a writer's opt-in and was stamped again
    (10:00:01). The write-back's decision is now kept, and its record is decided on top of it."""
    member = MEMBERS[1]
    state = PipelineMachine()
    state.members_sign_up(kinds=["web", "web", "none"], settled=True)
    state.raw_write(data=Draws(["email_subscription_status"], False), member=member, skew=-3600)
    if between:
        state.stream(count=8, crash_after=None)
    state.raw_write(
        data=Draws(["email_subscription_topics"], ["clubs", "community", "news"]), member=member, skew=-3600
    )
    state.time_passes(seconds=1)
    state.teardown()


def test_a_second_parked_write_over_a_broken_status_ends_no_subscription() -> None:
    """Found by a hunt: subscribed, a broken status ("yes", parked), an unrelated write while it is still
    broken (parked again), then true. The second park read the broken status as absent, not as the true it
    replaced, and stamped an opt-out the member never made."""
    state = PipelineMachine()
    state.members_sign_up(kinds=["web", "web", "web"], settled=False)
    state.break_rule_inputs(breaker=2)
    state.raw_write(data=Draws(["birthdate"], "2000-02-29"), member=POISON, skew=-3600)
    state.raw_write(
        data=Draws(["birthdate", "email_subscription_status"], None, True), member=POISON, skew=-3600
    )
    state.teardown()
    assert "email_opt_out_at" not in state.table.items[POISON]


def test_a_customerio_opt_out_applied_over_a_new_opt_in_keeps_its_event_time() -> None:
    """Found by a hunt against a rule tried and reverted this stop (a raw opt-out stamp older than the
    opt-in it ends gives way to the record's time): the consent function writes a Customer.io opt-out it
    cannot order after the opt-in with the event's time, older than that opt-in, and the contract keeps it
    equal to `email_cio_opt_out_at`."""
    member = MEMBERS[1]
    state = PipelineMachine()
    state.members_sign_up(kinds=["web", "web", "web"], settled=True)
    state.opt_out_in_customerio(member=member)
    state.email()
    state.raw_delete(member=member)
    state.track(crash=False)
    state.time_passes(seconds=1)
    state.email()
    state.sign_up(member=member, sms=False, topics=[])
    state.teardown()


def test_an_email_whose_delivery_id_went_unsaved_may_be_sent_and_then_parked() -> None:
    """Found by the machine (review of issue 21): the save of a delivery id fails, the stream record comes
    again, the member is deleted; the second intent is parked as gone. The verdict allowed "sent and
    parked" only for a send whose outcome was unknown, not for one alarmed of (EmailSentUnrecorded)."""
    state = PipelineMachine()
    state.members_sign_up(kinds=["web", "web", "web"], settled=False)
    state.email()
    state.email()
    state.model_write(data=Draws(), kind="password", member="5f0c8e2a9b1d4c3e2f1a0b01")
    for _ in range(7):
        state.email()
    state.idempotency_save_fails(times=4)
    state.stream(count=4, crash_after=None)
    state.email()
    state.stream_redelivers(back=1)
    state.raw_delete(member="5f0c8e2a9b1d4c3e2f1a0b01")
    state.teardown()


def test_a_model_unsubscribe_over_a_broken_topic_list_is_ruled_as_the_model_writes_it() -> None:
    """Found by a 1,500-example run: the CLI's unsubscribe of a member whose topic list breaks the
    contract clears that list, so the model writes it ruled (muted, opt-out stamped); the oracle judged it
    as a raw write leaving the broken list (parked, nothing ruled) and failed a correct product."""
    state = PipelineMachine()
    state.members_sign_up(kinds=["web", "web", "web"], settled=False)
    state.break_rule_inputs(breaker=1)
    state.model_write(member=POISON, data=Draws(["email_subscription_status"], False), kind="update")
    state.teardown()
    assert state.table.items[POISON].get("promotions_muted_at") is not None


@pytest.mark.parametrize("writer", ["break_other_attribute", "huge_write"])
@pytest.mark.parametrize("drained", [False, True])
def test_a_write_that_lands_while_a_topic_pick_waits_is_judged_as_the_opt_out_it_may_be(
    writer: str, drained: bool
) -> None:
    """Issue 21, found by the machine (taken for a product bug undoing a pick after a deletion request): a
    pick (clock an hour behind) waits for the rules; a legacy mobile or a long name lands before the stream
    catches up. Its image still shows `email_subscription_status: false`, so the product takes it as an
    unsubscribe (docs/pipeline.md, "Racing raw writes"); the oracle judged these two writers as leaving
    the status alone. Once the pick's record is handled first, the member stays subscribed."""
    member = MEMBERS[0]
    state = PipelineMachine()
    state.members_sign_up(kinds=["web", "web", "web"], settled=True)
    state.model_write(member=member, data=Draws(), kind="deletion")
    state._drain_queues()
    state.raw_write(data=Draws(["email_subscription_topics"], ["news"]), member=member, skew=-3600)
    if drained:
        state._drain_queues()
    if writer == "huge_write":
        state.huge_write(member=member, name="last_name", pathological=False, size=2_000)
    else:
        state.break_other_attribute(breaker=0, member=member)
    state.teardown()
    assert state.table.items[member]["email_subscription_status"] is drained


@pytest.mark.parametrize("breaker", [0, 1, 2])
@pytest.mark.parametrize("kind", ["deletion", "admin_mute"])
def test_a_legacy_unrelated_attribute_does_not_hold_back_a_model_write(breaker: int, kind: str) -> None:
    """Review 21: a 10-digit mobile or a legacy created_at refused the CLI's mute and deletion request (the
    model write validated the whole item), so the member was never muted; the machine let it pass."""
    state = PipelineMachine()
    state.members_sign_up(kinds=["web", "none", "none"], settled=True)
    state.break_other_attribute(member=MEMBERS[0], breaker=breaker)
    state.model_write(member=MEMBERS[0], data=Draws(), kind=kind)
    assert state.table.items[MEMBERS[0]].get("promotions_muted_at") is not None
    state.teardown()


def test_a_sign_up_parked_for_its_budget_after_its_rules_keeps_their_decision() -> None:
    """Issue 21, F5, found by the machine once a record's budget could run out: a sign-up's opt-in could not
    be written (a password update moved the item first); its record ran past its budget as its work
    ended and was parked, and the park dropped its decision: the password update's record was decided
    without it and the member never got its email status and opt-in stamp."""
    state = PipelineMachine()
    state.members_sign_up(kinds=["web", "web", "web"], settled=False)
    state.password_update(data=Draws(), member=MEMBERS[1])
    state.record_budget_runs_out(nth=2, point="end")
    state.teardown()
    assert state.table.items[MEMBERS[1]].get("email_opt_in_at") is not None


def test_a_password_update_parked_for_its_budget_then_redelivered_sends_one_email() -> None:
    """Found by the machine once a budget could run out before a record's rules: the parked record queued
    its password email with the id a park gave it, the redelivered record with the diff's: two emails."""
    state = PipelineMachine()
    state.members_sign_up(kinds=["web", "web", "web"], settled=True)
    state.password_update(data=Draws(), member=MEMBERS[0])
    state.record_budget_runs_out(nth=1, point="start")
    state.stream(count=1, crash_after=None)
    state.stream_redelivers(back=1)
    state.teardown()
