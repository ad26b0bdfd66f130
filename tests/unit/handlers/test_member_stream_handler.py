"""Issue 21's histories through the real member-stream handler (`handle`, its runtime passed in), and on to
the real track handler where the history ends at Customer.io.

Each fails on 9614d0c: see the test's docstring for what happened there.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from cio_sync.customerio.batch import Identify
from cio_sync.handlers import member_stream, track
from cio_sync.handlers.member_stream_budget import InvocationBudget
from cio_sync.handlers.member_stream_runtime import MemberStreamRuntime
from cio_sync.handlers.track_runtime import TrackRuntime
from cio_sync.members.subscriptions import web_signup
from cio_sync.pipeline.record_budget import RecordOverBudget
from cio_sync.pipeline.redelivery import Redelivery
from cio_sync.sync.intents import SyncProfile, TrackEvent
from tests.unit.pipeline.fakes import (
    FakeDeadLetters,
    FakePending,
    FakePublisher,
    FakeReader,
    FakeSender,
    FakeVisibility,
    FakeWriter,
    stream_record,
)
from tests.unit.pipeline.table_sim import SimTable

NOW = "2026-11-26T10:00:00.000000Z"
LATER = "2026-11-26T11:00:00.000000Z"


def member(**fields: Any) -> dict[str, Any]:
    return web_signup({"email": "someone@example.org", "first_name": "Ada", **fields}, NOW)


def runtime(publisher: FakePublisher, writer: Any = None, budget: Any = None) -> MemberStreamRuntime:
    deps = MemberStreamRuntime(writer or FakeWriter(), FakePending(), publisher, volatile_window_s=0, lanes=4)
    return deps if budget is None else deps._replace(budget=lambda context: budget)


def stream(*records: Mapping[str, Any], publisher: FakePublisher, **kwargs: Any) -> dict[str, Any]:
    deps = runtime(publisher, kwargs.pop("writer", None), kwargs.pop("budget", None))
    return member_stream.handle({"Records": list(records)}, None, deps)


def track_identifies(publisher: FakePublisher, items: Mapping[str, dict[str, Any]]) -> list[Identify]:
    """Deliver what the stream queued to the real track handler; the identifies it sent."""
    records = [
        {
            "messageId": f"m{n}",
            "body": message.body(),
            "attributes": {"MessageGroupId": message.lane, "ApproximateReceiveCount": "1"},
        }
        for n, message in enumerate(publisher.track)
    ]
    sender = FakeSender()
    deps = TrackRuntime(
        FakeReader(dict(items)),
        sender,
        FakeDeadLetters(),
        Redelivery(FakeVisibility(), max_receives=5),
        preflight=list,
        topic_map={},
    )
    assert track.handle({"Records": records}, None, deps) == {"batchItemFailures": []}
    return [op for request in sender.sent for op in request if isinstance(op, Identify)]


def test_over_limit_source_detail_never_holds_back_an_email_unsubscribe() -> None:
    """9614d0c: the 1,013-byte `source_detail` raised ProfileLimitError in the track function, which
    parked every sync of the member: the unsubscribe never reached Customer.io."""
    subscribed = member(source_detail="x" * 1013, sms_status="active", mobile="+15555550123")
    unsubscribed = {**subscribed, "email_subscription_status": False, "email_subscription_topics": []}
    publisher = FakePublisher()
    stream(stream_record(subscribed, unsubscribed), publisher=publisher)
    (identify,) = track_identifies(publisher, {subscribed["id"]: unsubscribed})
    assert identify.attributes["unsubscribed"] is True
    assert identify.attributes["email_subscription_status"] is False
    assert identify.attributes["source_detail"] == "x" * 1000


def test_a_password_change_on_an_item_with_a_retired_topic_still_sends_its_email() -> None:
    """9614d0c: the retired topic parked the record with a resync only; the email was never queued."""
    broken = {**member(), "email_subscription_topics": ["community", "retired"]}
    changed = {**broken, "password_updated_at": LATER, "updated_at": LATER}
    publisher = FakePublisher()
    stream(stream_record(broken, changed), publisher=publisher)
    assert [email.kind for email in publisher.emails] == ["password_updated"]
    assert publisher.member_ids() == [broken["id"]]  # the resync still goes
    assert len(publisher.parked) == 1  # and the record is still parked with its reason
    assert "email_subscription_topics" in publisher.parked[0]


def test_a_write_that_repairs_a_muted_item_keeps_its_resubscribe() -> None:
    """9614d0c: the repair was decided as if it created the item, and creation never unmutes: the topic
    pick left the member muted, with no profile and no `promotions_resubscribe`."""
    table = SimTable()
    muted = {
        **member(),
        "email_subscription_status": False,
        "email_subscription_topics": ["retired"],  # a legacy value the contract refuses
        "promotions_muted_at": NOW,
    }
    table.put(muted)
    pick = table.raw_write(muted["id"], {"email_subscription_topics": ["news"]})
    first = FakePublisher()
    stream(pick, publisher=first, writer=table)
    assert table.items[muted["id"]]["promotions_muted_at"] is None  # the rules unmuted on the pick
    second = FakePublisher()
    stream(table.records[-1], publisher=second, writer=table)  # the write-back's own record
    events = [i for m in second.track for i in m.intents if isinstance(i, TrackEvent)]
    assert [event.name for event in events] == ["promotions_resubscribe"]
    profile: dict[str, Any] = {}
    for identify in track_identifies(second, table.items):  # the consent attributes ride in their own
        profile.update(identify.attributes)
    assert profile["news_email_subscription_status"] is True


class SteppedClock:
    """The invocation's remaining time, going down by `step_s` at each look: no wall time involved."""

    def __init__(self, remaining_s: float, step_s: float) -> None:
        self.remaining_s, self.step_s = remaining_s, step_s

    def __call__(self) -> float:
        self.remaining_s -= self.step_s
        return self.remaining_s


def test_the_batch_stops_before_the_timeout_and_reports_the_rest_for_retry() -> None:
    """9614d0c: no record ever looked at the time; a slow batch ran into the Lambda timeout, which fails
    the whole batch and retries it from its first record."""
    items = [member() for _ in range(5)]
    records = [stream_record(None, item) for item in items]
    publisher = FakePublisher()
    # 36 s left, 5 s per look; a record starts only with 10 s (reserve) + 10 s (its budget) to spare.
    budget = InvocationBudget(SteppedClock(36.0, 5.0), record_s=10.0, reserve_s=10.0)
    response = stream(*records, publisher=publisher, budget=budget)
    handled = publisher.member_ids()
    # The first records in order (lanes may pack their intents in another order).
    assert sorted(handled) == sorted(item["id"] for item in items[: len(handled)])
    assert 1 <= len(handled) < len(items)
    retry_from = records[len(handled)]["dynamodb"]["SequenceNumber"]
    assert response == {"batchItemFailures": [{"itemIdentifier": retry_from}]}
    assert publisher.parked == []


class OverrunOn:
    """A budget with time to spare and no timer: the `nth` record's own work ends in what the timer raises."""

    def __init__(self, nth: int) -> None:
        self.nth, self.records = nth, 0

    def may_start(self) -> bool:
        return True

    @contextmanager
    def limit(self) -> Iterator[None]:
        self.records += 1
        if self.records == self.nth:
            raise RecordOverBudget  # the record's own work overran (before its write, here)
        yield

    @contextmanager
    def io(self) -> Iterator[None]:
        yield


def topic_picks(*members: dict[str, Any]) -> list[dict[str, Any]]:
    """Topics without a status: each record has a rule decision to write back."""
    return [stream_record(None, {**m, "email_subscription_status": None}) for m in members]


def test_a_record_whose_own_work_runs_past_its_budget_is_parked_and_the_rest_flow_on() -> None:
    """9614d0c: a record that never finished was retried until it was a day old, holding its shard."""
    fast, slow, after = member(), member(), member()
    publisher, writer = FakePublisher(), FakeWriter()
    response = stream(
        *topic_picks(fast, slow, after), publisher=publisher, writer=writer, budget=OverrunOn(2)
    )
    assert response == {"batchItemFailures": []}
    assert publisher.parked == ["ran past its time budget (pipeline/record_budget.py)"]
    # Its rules, cut off before they ran, run after the park (review 41): a park never drops a decision.
    assert [member_id for member_id, _ in writer.decisions] == [fast["id"], slow["id"], after["id"]]
    (message,) = publisher.track  # the slow one still resyncs its member
    assert [(type(i), i.member_id) for i in message.intents if i.member_id == slow["id"]] == [
        (SyncProfile, slow["id"])
    ]


class SlowWriter(FakeWriter):
    def __init__(self, slow: str) -> None:
        super().__init__()
        self.slow = slow

    def write_rule_decisions(
        self, member_id: str, expected: Mapping[str, Any], decided: Mapping[str, Any]
    ) -> bool:
        if member_id == self.slow:
            raise RecordOverBudget  # a budget that ran out during the table write
        return super().write_rule_decisions(member_id, expected, decided)


def test_a_budget_spent_during_the_table_write_is_retried_not_parked() -> None:
    """Before: parked, and its rule decisions (unmute, opt-in stamp, topic clearing) were lost."""
    fast, slow, after = member(), member(), member()
    records = topic_picks(fast, slow, after)
    publisher, writer = FakePublisher(), SlowWriter(slow["id"])
    response = stream(*records, publisher=publisher, writer=writer, budget=OverrunOn(0))
    assert response == {"batchItemFailures": [{"itemIdentifier": records[1]["dynamodb"]["SequenceNumber"]}]}
    assert publisher.parked == []


@dataclass
class SlowTable(SimTable):
    """DynamoDB answering the rules' write-back slowly (the adapters retry for up to ~20 s)."""

    write_s: float = 0.0

    def write_rule_decisions(
        self, member_id: str, expected: Mapping[str, Any], decided: Mapping[str, Any]
    ) -> bool:
        time.sleep(self.write_s)
        return super().write_rule_decisions(member_id, expected, decided)


def test_a_slow_table_write_under_the_real_timer_keeps_the_rule_decisions() -> None:
    """The reviewer's history: a muted member picks a topic while DynamoDB is slow. The timer fired in the
    write-back, the record was parked, and the unmute and `promotions_resubscribe` were lost. The write
    now takes three budgets (the timer would fire in it); the record's own work takes milliseconds."""
    table = SlowTable()
    muted = {
        **member(),
        "email_subscription_status": False,
        "email_subscription_topics": [],
        "promotions_muted_at": NOW,
    }
    table.put(muted)
    pick = table.raw_write(muted["id"], {"email_subscription_topics": ["news"]})
    budget = InvocationBudget(lambda: 900.0, record_s=1.0, reserve_s=0.0)
    table.write_s = 3.0
    publisher = FakePublisher()
    assert stream(pick, publisher=publisher, writer=table, budget=budget) == {"batchItemFailures": []}
    assert publisher.parked == []
    assert table.items[muted["id"]]["promotions_muted_at"] is None
    table.write_s = 0.0
    second = FakePublisher()
    stream(table.records[-1], publisher=second, writer=table, budget=budget)  # the write-back's own record
    events = [i for m in second.track for i in m.intents if isinstance(i, TrackEvent)]
    assert [event.name for event in events] == ["promotions_resubscribe"]


def test_the_handler_timer_interrupts_a_record_that_overruns() -> None:
    """The production budget's timer, on real time: it interrupts work that would otherwise run 60 s
    (waiting on the event with a generous bound; nothing asserts how long it took)."""
    budget = InvocationBudget(lambda: 900.0, record_s=0.2, reserve_s=0.0)

    def overrun() -> None:
        with budget.limit():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                time.sleep(0.01)

    with pytest.raises(RecordOverBudget):
        overrun()
    with budget.limit():  # cancelled once the record is done: nothing fires afterwards
        pass
    time.sleep(0.3)
