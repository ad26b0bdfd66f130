"""Review 3 of issue 21's park fixes: the opt-out stamps a repairing write, a writer's own stamp, a write
restoring an earlier version and the rules' fallback leave must let no late `subscribed` echo re-subscribe.
Each test failed on the code before its fix."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from cio_sync.pipeline import rule_enforcement

from .fakes import BudgetRunsOut, FakePending, FakePublisher
from .race_harness import MEMBER, RaceHarness, record_time
from .table_sim import SimTable
from .test_budget_after_rules import _stream
from .test_park_before_rules import _drain, _late_subscribed_echo, _on_both_channels


def _opted_out_long_ago() -> RaceHarness:
    harness = RaceHarness(_on_both_channels())
    harness.table.raw_write(MEMBER, {"email_subscription_status": False})
    harness.drain()
    harness.table.items[MEMBER].update(
        {"email_opt_in_at": "2026-07-01T00:00:00.000000Z", "email_opt_out_at": "2026-08-01T00:00:00.000000Z"}
    )
    return harness


def _echo_after_the_last_write(harness: RaceHarness) -> str:
    """Customer.io's `subscribed` a minute after the last write: the echo of an opt-in identify."""
    harness.oracle = {"email_opt_out_at": record_time(harness.table.records[-1])}
    return _late_subscribed_echo(harness)


@pytest.mark.parametrize("one_batch", [True, False], ids=["one batch", "two batches"])
def test_a_repair_to_false_after_a_broken_status_with_a_topic_pick_stamps_the_opt_out(
    one_batch: bool,
) -> None:
    """A parked write picks a topic beside a broken status (the pick subscribes); the repair writes false.
    It was judged against the status before the break (false): no opt-out stamped after the pick's opt-in,
    and the late echo re-subscribed the person. It is now judged against the status the pick decided."""
    harness = _opted_out_long_ago()
    harness.table.raw_write(
        MEMBER, {"email_subscription_status": "yes", "email_subscription_topics": ["news"]}
    )
    if not one_batch:
        _drain(harness)
    harness.table.raw_write(MEMBER, {"email_subscription_status": False})
    _drain(harness)
    assert harness.raw["email_subscription_status"] is False
    assert harness.raw["email_subscription_topics"] == []
    assert harness.raw["email_opt_out_at"] >= harness.raw["email_opt_in_at"]
    assert _echo_after_the_last_write(harness) != "applied"
    assert harness.raw["email_subscription_status"] is False


@pytest.mark.parametrize("parked", [True, False], ids=["beside a broken sms status", "alone"])
@pytest.mark.parametrize("stamp", ["garbage", Decimal(5)], ids=["text", "number"])
def test_a_writers_malformed_opt_out_stamp_is_replaced_by_the_records_time(
    parked: bool, stamp: object
) -> None:
    """Another service unsubscribes and writes its own `email_opt_out_at`, not a timestamp: it was kept as
    "fresh", the consent function read no opt-out, and the late echo re-subscribed the person."""
    harness = RaceHarness(_on_both_channels())
    harness.drain()
    harness.table.raw_write(
        MEMBER,
        {"email_subscription_status": False, "email_opt_out_at": stamp}
        | ({"sms_status": "bogus"} if parked else {}),
    )
    if parked:
        harness.table.raw_write(MEMBER, {"sms_status": "active"})
    _drain(harness)
    assert isinstance(harness.raw["email_opt_out_at"], str)
    assert harness.raw["email_opt_out_at"].startswith("2026-")
    assert _echo_after_the_last_write(harness) != "applied"
    assert harness.raw["email_subscription_status"] is False


def _write_at(table: SimTable, changes: dict[str, Any], updated_at: str) -> None:
    old = copy.deepcopy(table.items[MEMBER])
    new = {**old, **{name: value for name, value in changes.items() if value is not None}}
    for name in [name for name, value in changes.items() if value is None]:
        new.pop(name, None)
    new["updated_at"] = updated_at
    table.items[MEMBER] = new
    table._record(old, new)


def test_a_write_restoring_the_sign_ups_version_in_its_batch_never_takes_the_sign_ups_decision() -> None:
    """A raw sign-up (the rules owe: subscribe), a broken status (parked), then a removal stamped with the
    sign-up's own `updated_at` (a clock a second behind): the item is the sign-up's version again, so the
    sign-up's write-back landed on it and subscribed a member whose last write is an opt-out. A record's
    write-back now waits while its batch holds a later record of the member (which carries it)."""
    table = SimTable()
    signup = {
        "id": MEMBER,
        "email": "someone@example.org",
        "email_subscription_topics": ["community"],
        "created_at": "2026-11-26T10:00:00Z",
        "updated_at": "2026-11-26T10:00:00Z",
        "promotions_muted_at": None,
    }
    table.items[MEMBER] = dict(signup)
    table._record(None, table.items[MEMBER])
    _write_at(table, {"email_subscription_status": "yes"}, "2026-11-26T10:00:01Z")
    _write_at(table, {"email_subscription_status": None}, "2026-11-26T10:00:00Z")
    harness = RaceHarness.__new__(RaceHarness)
    harness.table, harness.pending, harness.publisher, harness.cursor = (
        table,
        FakePending(),
        FakePublisher(),
        0,
    )
    _stream(harness, table.records[:3], BudgetRunsOut(0, "none"))
    _drain(harness)
    assert table.items[MEMBER].get("email_subscription_status") is not True


@pytest.mark.parametrize("one_batch", [True, False], ids=["one batch", "two batches"])
def test_a_parked_write_the_full_rules_cannot_decide_still_stamps_its_opt_out(
    one_batch: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fallback for a parked write whose valid part the rules raise on (none is known): it laid the raw
    change over the owed decision, so an unsubscribe kept its topics and no stamp. The plain subscription
    rules run on it now."""
    real = rule_enforcement.decide  # type: ignore[attr-defined]

    def refusing(*args: Any, **options: Any) -> Any:
        if options.get("assume_opt_out") is False:  # the parked write's valid part only
            raise ValueError("the rules cannot read it")
        return real(*args, **options)

    monkeypatch.setattr(rule_enforcement, "decide", refusing)
    harness = RaceHarness(_on_both_channels())
    harness.drain()
    harness.table.raw_write(MEMBER, {"email_subscription_status": False, "sms_status": "bogus"})
    if not one_batch:
        _drain(harness)
    harness.table.raw_write(MEMBER, {"sms_status": "active"})
    _drain(harness)
    assert harness.raw.get("email_opt_out_at") is not None
    assert harness.raw["email_subscription_topics"] == []


@pytest.mark.parametrize(
    "second",
    [{"email_subscription_status": "no"}, {"email_subscription_topics": []}],
    ids=["broken again", "topics removed"],
)
def test_two_parked_writes_then_a_repair_to_false_stamp_the_opt_out(second: dict[str, Any]) -> None:
    """Review 4: a pick beside a broken status, a second parked write, then false. The repair's opt-out was
    judged with the record's raw image, whose old opt-out stamp (untouched by any writer) differed from
    the carried one and was taken for the writer's own: the old stamp stood, and the echo re-subscribed."""
    harness = _opted_out_long_ago()
    for write in (
        {"email_subscription_status": "yes", "email_subscription_topics": ["news"]},
        second,
        {"email_subscription_status": False},
    ):
        harness.table.raw_write(MEMBER, write)
    _drain(harness)
    assert harness.raw["email_opt_out_at"] >= harness.raw["email_opt_in_at"]
    assert _echo_after_the_last_write(harness) != "applied"


@pytest.mark.parametrize("stamp", ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00+00:00"])
def test_a_writers_opt_out_stamp_older_than_the_opt_in_is_replaced_by_the_records_time(stamp: str) -> None:
    """Review 4: another service (a clock behind) unsubscribes with its own `email_opt_out_at`, a timestamp
    but before the opt-in it ends: the opt-out read as the older of the two, and the late echo
    re-subscribed the person. A raw write's opt-out out of order gives way to the record's time (not the
    consent function's, stamped with Customer.io's event time: test_machine.py has that history)."""
    harness = RaceHarness(_on_both_channels())
    harness.drain()
    harness.table.raw_write(MEMBER, {"email_subscription_status": False, "email_opt_out_at": stamp})
    _drain(harness)
    assert harness.raw["email_opt_out_at"] > harness.raw["email_opt_in_at"]
    assert _echo_after_the_last_write(harness) != "applied"
