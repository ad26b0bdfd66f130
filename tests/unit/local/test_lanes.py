"""A FIFO message group is claimed by one invocation at a time across a mapping's pollers; a batch waiting
for its group is work the idle check sees."""

from __future__ import annotations

import threading

from cio_sync_local.delivery import Delivery, FaultDice, Faults
from cio_sync_local.description import MappingSpec, QueueSpec
from cio_sync_local.invoker import InvocationResult
from cio_sync_local.lanes import LaneLocks
from cio_sync_local.sqs_poller import SqsPoller


def test_a_held_group_waits_and_a_free_one_does_not() -> None:
    lanes = LaneLocks()
    entered = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def first() -> None:
        with lanes.claim({"lane-1"}, timeout_s=60) as claimed:
            assert claimed
            order.append("first")
            entered.set()
            assert release.wait(60)
            order.append("first done")

    def second() -> None:
        with lanes.claim({"lane-1", "lane-2"}, timeout_s=60) as claimed:
            assert claimed
            order.append("second")

    one = threading.Thread(target=first)
    one.start()
    assert entered.wait(60)
    with lanes.claim({"lane-3"}, timeout_s=0) as claimed:  # another lane: no wait at all
        assert claimed
    two = threading.Thread(target=second)
    two.start()
    while lanes.waits < 1:  # the second claim is waiting for lane-1 (an event, not a timing)
        threading.Event().wait(0.01)
    assert lanes.held() == {"lane-1"}  # it claimed nothing while waiting
    release.set()
    one.join(60)
    two.join(60)
    assert order == ["first", "first done", "second"]
    assert lanes.held() == set()


def test_a_claim_that_times_out_claims_nothing() -> None:
    lanes = LaneLocks()
    with lanes.claim({"lane-1"}, timeout_s=1) as first:
        assert first
        with lanes.claim({"lane-1", "lane-2"}, timeout_s=0) as second:
            assert second is False
        assert lanes.held() == {"lane-1"}
    assert lanes.held() == set()


def test_a_batch_waiting_for_its_group_is_pending_work() -> None:
    """A message received again after its visibility ended may already be deleted by the invocation that
    holds its group: while the poller waits for the group, it is the only place the message lives, so the
    idle check must see it as pending."""
    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "r-1",
        "Body": "{}",
        "MD5OfBody": "x",
        "Attributes": {"MessageGroupId": "lane-1", "ApproximateReceiveCount": "2"},
    }

    class Sqs:
        def receive_message(self, **_: object) -> dict[str, object]:
            return {"Messages": [message]}

        def delete_message_batch(self, **_: object) -> dict[str, object]:
            return {}

    class Invoker:
        def invoke(self, event: dict[str, object], *, lose_answer: bool = False) -> InvocationResult:
            return InvocationResult(response=None)

        def stop(self) -> None: ...

    mapping = MappingSpec("u", "Queue", "Function", "sqs", "Queue", "arn:q", 10, 0.0, True)
    queue = QueueSpec("Queue", "q.fifo", "arn:q", "http://q", True, 30, 60, None, None)
    lanes = LaneLocks()
    poller = SqsPoller(
        mapping,
        Delivery("Function", Invoker(), FaultDice(Faults()), []),
        queue=queue,
        sqs=Sqs(),
        region="us-east-1",
        lanes=lanes,
    )
    assert poller.pending is None
    polled: list[int] = []
    with lanes.claim({"lane-1"}, timeout_s=60):  # another invocation holds the group
        thread = threading.Thread(target=lambda: polled.append(poller.poll_once()))
        thread.start()
        while lanes.waits < 1:  # the poller is waiting for the group (an event, not a timing)
            threading.Event().wait(0.01)
        assert poller.pending == "1 messages received, not yet acknowledged"
    thread.join(60)
    assert polled == [1]
    assert poller.pending is None
