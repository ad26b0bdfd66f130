"""The in-process measure drives the real handlers on its fakes: tiny runs, no timing asserted."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cio_sync_local.bench import throughput
from cio_sync_local.bench.fakes import AcceptingPool
from cio_sync_local.bench.throughput import (
    LAMBDA_EVENT_BYTES,
    STREAM_BATCH,
    item_bytes,
    members,
    stream_events,
)


@pytest.mark.parametrize("size", [1000, 10_000, 390_000])
def test_padded_members_have_the_size_asked_for(size: int) -> None:
    (item,) = members(1, size).values()
    assert size - 100 <= item_bytes(item) <= size


def test_a_stream_batch_holds_at_most_the_batch_size_and_fits_lambda_s_event() -> None:
    small = stream_events(STREAM_BATCH + 5, None)
    assert [len(json.loads(event)["Records"]) for event in small] == [STREAM_BATCH, 5]
    large = stream_events(10, 390_000)
    assert all(len(event) <= LAMBDA_EVENT_BYTES for event in large)
    assert sum(len(json.loads(event)["Records"]) for event in large) == 10


@pytest.mark.parametrize("name", ["member_stream", "track", "import_chunk"])
def test_every_record_goes_through_the_function_without_a_failure(name: str) -> None:
    records, calls = throughput.FUNCTIONS[name].prepare(10_000, 30)
    with throughput.production_logging():
        answers = [call() for call in calls]
    assert records == 30
    assert answers
    assert all(answer == {"batchItemFailures": []} for answer in answers)


def test_the_track_function_sends_every_member_to_customer_io() -> None:
    """Through the real Track client: the fake pool saw one identify per member (ids in the bodies)."""
    seen: list[bytes] = []

    class Pool(AcceptingPool):
        def request(self, method: str, url: str, *, body: bytes | None, **rest: Any) -> Any:
            seen.append(body or b"")
            return super().request(method, url, body=body, **rest)

    _, calls = throughput.prepare_track(10_000, 25, Pool())
    with throughput.production_logging():
        for call in calls:
            call()
    sent = [item for body in seen for item in json.loads(body)["batch"]]
    assert sorted(item["identifiers"]["id"] for item in sent) == sorted(members(25, None))
    assert {item["type"] for item in sent} == {"person"}
