"""An invocation that outlives its messages' visibility timeout keeps its FIFO group to itself.

The local stack shortens visibility timeouts (1 s here) but not the function's (60 s), which AWS would
refuse: there, a group's messages cannot become visible while an invocation holds them. Here, once the
first invocation has held the group past 1 s, the mapping's other poller receives the group again; it
must wait for that invocation instead of running the group beside it (a later sync sent before an earlier
delete). Two pollers of the track mapping run against the stack's own queue, the pump's held back.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from cio_sync_local.delivery import Delivery, FaultDice, Faults
from cio_sync_local.invoker import InvocationResult
from cio_sync_local.lanes import LaneLocks
from cio_sync_local.sqs_poller import SqsPoller
from cio_sync_local.stack import LocalStack

pytestmark = pytest.mark.integration

WAIT_S = 120.0
TRACK = "TrackFunction"


class BlockingFirstInvocation:
    """An invoker: the first invocation blocks until released; every invocation is recorded."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.overlapped = False
        self.bodies: list[list[str]] = []

    def invoke(self, event: dict[str, Any], *, lose_answer: bool = False) -> InvocationResult:
        with self.lock:
            self.running += 1
            self.overlapped |= self.running > 1
            first = not self.started.is_set()
            self.started.set()
            self.bodies.append([json.loads(record["body"]) for record in event["Records"]])
        try:
            if first:
                assert self.release.wait(WAIT_S), "never released"
        finally:
            with self.lock:
                self.running -= 1
        return InvocationResult(response={"batchItemFailures": []})

    def stop(self) -> None:
        pass


def send(sqs: Any, url: str, body: str) -> None:
    sqs.send_message(
        QueueUrl=url, MessageBody=json.dumps(body), MessageGroupId="lane", MessageDeduplicationId=body
    )


def test_a_group_held_past_its_visibility_is_not_run_twice_at_once() -> None:
    with LocalStack(aws_port=0, cio_port=0, visibility_timeout_s=1) as stack:
        assert stack.pump is not None
        with stack.pump.hold(TRACK):
            (mapping,) = stack.description.mappings_of(TRACK)
            queue = stack.description.queues[mapping.source]
            invoker = BlockingFirstInvocation()
            delivery = Delivery(TRACK, invoker, FaultDice(Faults()), [])
            lanes = LaneLocks()
            sqs = stack.client("sqs")
            first, second = (
                SqsPoller(mapping, delivery, queue=queue, sqs=sqs, region="us-east-1", lanes=lanes)
                for _ in range(2)
            )
            sqs.send_message(
                QueueUrl=queue.url,
                MessageBody=json.dumps("a"),
                MessageGroupId="lane",
                MessageDeduplicationId="a",
            )
            one = threading.Thread(target=first.poll_once)
            one.start()
            assert invoker.started.wait(WAIT_S)
            sqs.send_message(
                QueueUrl=queue.url,
                MessageBody=json.dumps("b"),
                MessageGroupId="lane",
                MessageDeduplicationId="b",
            )
            # Once "a" is visible again the other poller receives the group and must wait for it.
            deadline = time.monotonic() + WAIT_S

            def poll_until_delivered() -> None:
                while not second.poll_once() and time.monotonic() < deadline:
                    time.sleep(0.05)

            two = threading.Thread(target=poll_until_delivered)
            two.start()
            try:
                while lanes.waits < 1:
                    assert time.monotonic() < deadline, "the other poller never received the held group"
                    assert not invoker.overlapped, "the group ran in two invocations at once"
                    time.sleep(0.05)
            finally:  # even on failure: no poller of this stack may outlive it (the next one has its queues)
                invoker.release.set()
                one.join(WAIT_S)
                two.join(WAIT_S)
    assert not invoker.overlapped
    assert invoker.bodies[0] == ["a"]
    assert "b" in [body for bodies in invoker.bodies[1:] for body in bodies]
