"""Partial batch responses, as Powertools' batch processor gave them (handlers/sqs_batch.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cio_sync.handlers.sqs_batch import EveryRecordFailed, inbound_messages, partial_batch
from cio_sync.pipeline.messages import InboundMessage


def event(*bodies: str, group: str | None = None) -> dict[str, Any]:
    attributes = {"ApproximateReceiveCount": "3", **({"MessageGroupId": group} if group else {})}
    records = [
        {"messageId": f"m{n}", "receiptHandle": f"r{n}", "body": body, "attributes": attributes}
        for n, body in enumerate(bodies)
    ]
    return {"Records": records}


def fail_on(*bad: str) -> Callable[[InboundMessage], None]:
    def handle(message: InboundMessage) -> None:
        if message.body in bad:
            raise RuntimeError("no")

    return handle


def test_records_become_inbound_messages() -> None:
    (message,) = inbound_messages(event("b", group="lane-001"))
    assert message == InboundMessage("m0", "lane-001", "b", 3, "r0")


def test_only_the_failed_records_are_reported() -> None:
    response = partial_batch(inbound_messages(event("a", "bad", "c")), fail_on("bad"))
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


def test_every_record_failing_raises_so_lambda_retries_the_batch() -> None:
    with pytest.raises(EveryRecordFailed):
        partial_batch(inbound_messages(event("bad", "bad")), fail_on("bad"))


def test_on_fifo_the_records_after_a_failure_are_returned_unprocessed() -> None:
    seen: list[str] = []

    def handle(message: InboundMessage) -> None:
        seen.append(message.body)
        if message.body == "bad":
            raise RuntimeError("no")

    response = partial_batch(inbound_messages(event("a", "bad", "c")), handle, fifo=True)
    assert seen == ["a", "bad"]
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}


def test_an_empty_event_is_an_empty_response() -> None:
    assert partial_batch(inbound_messages({}), fail_on()) == {"batchItemFailures": []}
