"""The grants Lambda's pollers use on the function's behalf, as CreateEventSourceMapping checks them."""

from __future__ import annotations

import pytest

from cio_sync_local.description import MappingSpec
from cio_sync_local.mapping_grants import poller_requests

pytestmark = pytest.mark.unit

QUEUE = "arn:aws:sqs:us-east-1:123456789012:track.fifo"
STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/members/stream/2026"


def mapping(kind: str, source: str, on_failure: str | None = None) -> MappingSpec:
    return MappingSpec(
        uuid="u",
        name="Event",
        function="F",
        kind=kind,  # type: ignore[arg-type]
        source="Source",
        source_arn=source,
        batch_size=10,
        batching_window_s=0,
        report_batch_item_failures=True,
        on_failure=on_failure,
    )


def test_a_queue_mapping_needs_receive_delete_and_attributes_on_its_queue() -> None:
    requests = poller_requests(mapping("sqs", QUEUE), description=None)  # type: ignore[arg-type]
    assert [(r.action, r.resource) for r in requests] == [
        ("sqs:ReceiveMessage", QUEUE),
        ("sqs:DeleteMessage", QUEUE),
        ("sqs:GetQueueAttributes", QUEUE),
    ]


def test_a_stream_mapping_needs_the_stream_reads() -> None:
    requests = poller_requests(mapping("dynamodb", STREAM), description=None)  # type: ignore[arg-type]
    assert {r.action for r in requests} == {
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
    }
    assert {r.resource for r in requests} == {STREAM}
