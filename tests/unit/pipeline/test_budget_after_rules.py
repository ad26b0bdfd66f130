"""A record parked for its time budget after its rules were decided keeps that decision (issue 21, F5).

The budget is a fake that runs out at a chosen point of a record's work (no clock): the production timer
(handlers/member_stream_budget.py) can fire at any point, including once the rules are decided and
written back. Before the fix, the park dropped the record's own decision from the batch's memory, so the
member's next record in the batch was decided without it: an unmute, or a mute that could not be written
back, was lost for good.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cio_sync.handlers import member_stream
from cio_sync.handlers.member_stream_runtime import MemberStreamRuntime
from cio_sync.members.contract import MemberItem
from cio_sync.members.subscriptions import web_signup
from cio_sync.pipeline.record_budget import Unlimited

from .fakes import BudgetRunsOut
from .race_harness import LANES, MEMBER, RaceHarness

PARKED = "ran past its time budget (pipeline/record_budget.py)"


def _stream(
    harness: RaceHarness, records: list[dict[str, Any]], budget: Any, volatile_window_s: int = 0
) -> dict[str, Any]:
    deps = MemberStreamRuntime(
        harness.table, harness.pending, harness.publisher, volatile_window_s=volatile_window_s, lanes=LANES
    )
    response = member_stream.handle({"Records": records}, None, deps._replace(budget=lambda _: budget))
    harness.cursor += len(records)
    return response


def _muted_unsubscribed() -> MemberItem:
    item = web_signup({"id": MEMBER, "email": "someone@example.org"}, "2026-11-26T09:00:00.000000Z")
    item.update({"email_subscription_status": False, "email_subscription_topics": []})
    item["promotions_muted_at"] = "2026-11-26T09:00:00.000000Z"
    return item


def _subscribed() -> MemberItem:
    return web_signup({"id": MEMBER, "email": "someone@example.org"}, "2026-11-26T09:00:00.000000Z")


History = tuple[Callable[[], MemberItem], dict[str, Any], dict[str, Any]]
# (the member, its first write (its rules' decision cannot be written: the second moved the item), the second)
HISTORIES: dict[str, History] = {
    "a topic pick's unmute, then an unsubscribe": (
        _muted_unsubscribed,
        {"email_subscription_topics": ["news"]},
        {"email_subscription_status": False},
    ),
    "an unsubscribe's mute, then a rename": (
        _subscribed,
        {"email_subscription_status": False},
        {"first_name": "Grace"},
    ),
}


@pytest.mark.parametrize("point", ["end", "io"])
@pytest.mark.parametrize("history", sorted(HISTORIES))
def test_a_record_parked_for_its_budget_after_its_rules_keeps_their_decision(
    history: str, point: str
) -> None:
    """Fails before the fix with `end`: the rename or unsubscribe is decided without the first write's
    decision, and the member ends unmuted (or muted with the old stamp), unlike the rules write by write.
    (With `io` the old code retried the record; it guards the fix's write-and-note step.)"""
    initial, first, second = HISTORIES[history]
    harness = RaceHarness(initial())
    harness.drain()
    harness.write(first)
    harness.write(second)  # lands before the stream handles the first write
    records = harness.table.records[harness.cursor :]
    response = _stream(harness, records, BudgetRunsOut(1, point))
    assert response == {"batchItemFailures": []}
    assert harness.publisher.parked == [PARKED]
    while harness.cursor < len(harness.table.records):  # the write-backs' own records
        _stream(harness, harness.table.records[harness.cursor :], Unlimited())
    assert harness.differences() == {}
