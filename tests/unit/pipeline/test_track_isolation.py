"""Issue 21: one member's repeated retryable failure must not stall its lane (and the batch) for days.

Through the real track handler with the pipeline's fakes and a small FIFO queue model: a failed message
comes back with its receive count one higher, an acknowledged one is gone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from cio_sync.customerio.batch import BatchResult, Identify, Operation
from cio_sync.customerio.errors import RateLimited, ServerError, batch_item_error
from cio_sync.handlers.track import handle
from cio_sync.handlers.track_runtime import TrackRuntime
from cio_sync.members.subscriptions import web_signup
from cio_sync.pipeline.messages import encode_intents
from cio_sync.pipeline.redelivery import MAX_RECEIVES, Redelivery
from cio_sync.sync.intents import SyncProfile

from .fakes import FakeDeadLetters, FakeReader, FakeVisibility

NOW = "2026-11-26T10:00:00.000000Z"


@dataclass
class PayloadFailingSender:
    """Customer.io answering 503 to every request that holds one of `failing` (or every request at all)."""

    failing: set[str]
    everything_fails: bool = False
    requests: int = 0
    applied: list[str] = field(default_factory=list)

    def send_batch(self, operations: Sequence[Operation], deadline: float | None) -> BatchResult:
        self.requests += 1
        if self.everything_fails or any(op.member_id in self.failing for op in operations):
            raise ServerError(503, "Customer.io batch answered HTTP 503")
        self.applied += [op.member_id for op in operations if isinstance(op, Identify)]
        return BatchResult(len(operations), {})


@dataclass
class Queue:
    """A FIFO queue as the track function sees it: (id, group, body, receive count) until acknowledged."""

    messages: list[tuple[str, str, str, int]]

    def receive_all(self, runtime: TrackRuntime) -> None:
        records = [
            {
                "messageId": message_id,
                "receiptHandle": f"receipt-{message_id}-{count}",
                "body": body,
                "attributes": {"MessageGroupId": group, "ApproximateReceiveCount": str(count)},
            }
            for message_id, group, body, count in self.messages
        ]
        response = handle({"Records": records}, None, runtime)
        failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
        self.messages = [(m, g, b, c + 1) for m, g, b, c in self.messages if m in failed]


def members(count: int) -> list[dict[str, Any]]:
    return [web_signup({"email": f"member{n}@example.org"}, NOW) for n in range(count)]


def lane_message(message_id: str, group: str, batch: Sequence[dict[str, Any]]) -> tuple[str, str, str, int]:
    intents = [SyncProfile(f"sync-{item['id']}", item["id"]) for item in batch]
    return (message_id, group, encode_intents(intents), 1)


def runtime(
    items: Sequence[dict[str, Any]], sender: PayloadFailingSender
) -> tuple[TrackRuntime, FakeDeadLetters]:
    dead = FakeDeadLetters()
    built = TrackRuntime(
        members=FakeReader({item["id"]: item for item in items}),
        sender=sender,
        dead_letters=dead,
        redelivery=Redelivery(FakeVisibility(), max_receives=MAX_RECEIVES),
        preflight=list,
        topic_map={},
    )
    return built, dead


def parked_members(dead: FakeDeadLetters) -> list[str]:
    return [intent["member_id"] for body, _ in dead.parked for intent in json.loads(body)["intents"]]


def test_a_member_that_fails_every_batch_is_parked_and_its_lanes_go_on_within_three_receives() -> None:
    items = members(40)
    poison = items[17]
    sender = PayloadFailingSender(failing={poison["id"]})
    built, dead = runtime(items, sender)
    queue = Queue(
        [
            lane_message("m1", "lane-001", items[:20]),
            lane_message("m2", "lane-001", items[20:30]),
            lane_message("m3", "lane-002", items[30:]),
        ]
    )
    receives = 0
    while queue.messages and receives < 6:
        queue.receive_all(built)
        receives += 1
    assert queue.messages == [], "the batch is still failing as a whole"
    assert receives <= 3  # two failures in a row (about a minute of backoff), then isolation
    assert parked_members(dead) == [poison["id"]]
    assert "fails alone after 3 receives" in dead.parked[0][1]
    assert "503" in dead.parked[0][1]
    assert sorted(set(sender.applied)) == sorted(item["id"] for item in items if item is not poison)


def test_isolation_costs_a_few_requests_per_failing_member_not_one_per_member() -> None:
    items = members(40)
    sender = PayloadFailingSender(failing={items[3]["id"], items[33]["id"]})
    built, dead = runtime(items, sender)
    queue = Queue([lane_message("m1", "lane-001", items)])
    queue.messages = [(m, g, b, 3) for m, g, b, _ in queue.messages]
    queue.receive_all(built)
    assert queue.messages == []
    assert sorted(parked_members(dead)) == sorted([items[3]["id"], items[33]["id"]])
    assert sender.requests <= 2 * 2 * (40).bit_length() + 2  # and one probe that Customer.io still answers


def test_an_outage_parks_nobody_however_often_the_batch_comes_back() -> None:
    items = members(12)
    sender = PayloadFailingSender(failing=set(), everything_fails=True)
    built, dead = runtime(items, sender)
    queue = Queue([lane_message("m1", "lane-001", items[:6]), lane_message("m2", "lane-002", items[6:])])
    for _ in range(5):
        queue.receive_all(built)
    assert dead.parked == []
    assert [message[3] for message in queue.messages] == [6, 6]
    # Two plain receives, then three that give up splitting once nothing has answered 7 requests.
    assert sender.requests == 2 + 3 * 7


def test_a_member_alone_in_its_batch_is_not_parked_for_want_of_comparison() -> None:
    """Nothing else answered, so an outage cannot be told apart: it waits, like any failure, until others
    join its batch or its last receive."""
    items = members(1)
    sender = PayloadFailingSender(failing={items[0]["id"]})
    built, dead = runtime(items, sender)
    queue = Queue([lane_message("m1", "lane-001", items)])
    for _ in range(4):
        queue.receive_all(built)
    assert dead.parked == []
    assert len(queue.messages) == 1


@pytest.mark.parametrize("reason", ["rate limit exceeded", "internal error"])
def test_a_transient_item_error_that_keeps_coming_for_one_member_never_parks_it(reason: str) -> None:
    """A 207 item error naming a passing condition says nothing against the payload: during a partial
    Customer.io incident the member (say, with an opt-out to send) is retried, never parked."""
    items = members(4)

    @dataclass
    class ItemFailingSender(PayloadFailingSender):
        def send_batch(self, operations: Sequence[Operation], deadline: float | None) -> BatchResult:
            self.requests += 1
            errors = {
                i: batch_item_error([reason], reason)
                for i, op in enumerate(operations)
                if op.member_id in self.failing
            }
            self.applied += [op.member_id for i, op in enumerate(operations) if i not in errors]
            return BatchResult(len(operations), errors)

    sender = ItemFailingSender(failing={items[2]["id"]})
    built, dead = runtime(items, sender)
    queue = Queue([lane_message("m1", "lane-001", items[:2]), lane_message("m2", "lane-002", items[2:])])
    for _ in range(6):
        queue.receive_all(built)
    assert dead.parked == []
    assert [message[0] for message in queue.messages] == ["m2"]  # only its message waits, to be retried
    assert set(sender.applied) == {item["id"] for item in items if item is not items[2]}


def test_a_rate_limit_is_never_taken_for_a_failing_payload() -> None:
    """429 says "slow down" for everyone: splitting would only send more, and nobody may be parked."""
    items = members(6)

    @dataclass
    class RateLimitingSender(PayloadFailingSender):
        def send_batch(self, operations: Sequence[Operation], deadline: float | None) -> BatchResult:
            self.requests += 1
            if any(op.member_id in self.failing for op in operations):
                raise RateLimited("Customer.io batch answered HTTP 429")
            return BatchResult(len(operations), {})

    sender = RateLimitingSender(failing={items[0]["id"]})
    built, dead = runtime(items, sender)
    queue = Queue([lane_message("m1", "lane-001", items)])
    for _ in range(4):
        queue.receive_all(built)
    assert dead.parked == []
    assert sender.requests == 4  # one request per receive: no splitting


@dataclass
class OnceFailingAloneSender(PayloadFailingSender):
    """Like its parent, and one innocent member's first request on its own hits a passing 503 too."""

    innocent: str = ""
    innocent_failed: bool = False

    def send_batch(self, operations: Sequence[Operation], deadline: float | None) -> BatchResult:
        alone = {op.member_id for op in operations} == {self.innocent}
        if alone and not self.innocent_failed:
            self.innocent_failed = True
            self.requests += 1
            raise ServerError(503, "Customer.io batch answered HTTP 503")
        return super().send_batch(operations, deadline)


def test_an_innocent_member_whose_own_request_fails_once_is_not_parked() -> None:
    """A passing 5xx that outlives the transport's retries during isolation must not park a member that
    did nothing: only a member failing on its own twice in a row is taken for the cause."""
    items = members(8)
    poison, innocent = items[2], items[5]
    sender = OnceFailingAloneSender(failing={poison["id"]}, innocent=innocent["id"])
    built, dead = runtime(items, sender)
    queue = Queue([lane_message("m1", "lane-001", items[:4]), lane_message("m2", "lane-002", items[4:])])
    queue.messages = [(m, g, b, 3) for m, g, b, _ in queue.messages]
    # The innocent member is sent alone only if its half fails: put the poison in its half too.
    sender.failing.add(items[4]["id"])
    queue.receive_all(built)
    assert sender.innocent_failed, "the innocent member was never sent on its own: the test proves nothing"
    assert innocent["id"] not in parked_members(dead)
    assert sorted(parked_members(dead)) == sorted([poison["id"], items[4]["id"]])


@dataclass
class OutageSwitchSender(PayloadFailingSender):
    """Customer.io fails everything from request `down_from` on, until request `up_from` (an outage that
    begins or ends while the batch is being split)."""

    down_from: int = 0
    up_from: int = 10**9

    def send_batch(self, operations: Sequence[Operation], deadline: float | None) -> BatchResult:
        self.everything_fails = self.down_from <= self.requests < self.up_from
        return super().send_batch(operations, deadline)


def test_an_outage_that_ends_while_a_batch_is_split_parks_nobody() -> None:
    """Lone failures before Customer.io has answered anyone are the outage's, not the payload's: 3 members,
    requests 0-5 fail (the batch, its halves, the lone retries), then Customer.io is back."""
    items = members(3)
    sender = OutageSwitchSender(failing=set(), down_from=0, up_from=6)
    built, dead = runtime(items, sender)
    queue = Queue([lane_message("m1", "lane-001", items)])
    queue.messages = [(m, g, b, 3) for m, g, b, _ in queue.messages]
    queue.receive_all(built)
    assert sender.requests > 6, "the outage never ended inside the split: the test proves nothing"
    assert dead.parked == []


def test_an_outage_that_begins_while_a_batch_is_split_parks_only_after_a_probe_is_answered() -> None:
    """One half is answered, then Customer.io goes down: the lone failures that follow are the outage's,
    and the final probe (an answered member again) fails, so nobody is parked; not even the poison."""
    items = members(4)
    sender = OutageSwitchSender(failing={items[1]["id"]}, down_from=3)
    built, dead = runtime(items, sender)
    queue = Queue([lane_message("m1", "lane-001", items)])
    queue.messages = [(m, g, b, 3) for m, g, b, _ in queue.messages]
    queue.receive_all(built)
    assert sender.requests > 3
    assert dead.parked == []
