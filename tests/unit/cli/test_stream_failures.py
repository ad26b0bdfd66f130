"""stream-failures entries resolved to members: parked records by key, Lambda's batches by re-reading them."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from cio_sync.adapters.sqs import SqsQueues
from cio_sync_cli.stream_failures import StreamRangeReader, members_in_range, parse_entry, resolve

MEMBER = "5f0c8e2a9b1d4c3e2f1a0b9c"
OTHER = "5f0c8e2a9b1d4c3e2f1a0b9d"
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/members/stream/2026-11-30T00:00:00.000"


class RecordingSqs:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **request: Any) -> None:
        self.sent.append(request)


def parked_body(key: object) -> str:
    sqs = RecordingSqs()
    record = {
        "eventID": "e",
        "eventName": "MODIFY",
        "eventSourceARN": ARN,
        "dynamodb": {"SequenceNumber": "42"},
    }
    if key is not None:
        record["dynamodb"]["Keys"] = {"id": {"S": key}}  # type: ignore[index]
    SqsQueues(sqs, None, None, "https://sqs/failures").record_stream_failure(record, "parked: a reason")
    return str(sqs.sent[0]["MessageBody"])


def lambda_body(shard: str = "shardId-1", start: str = "100", end: str = "300") -> str:
    info = {
        "shardId": shard,
        "startSequenceNumber": start,
        "endSequenceNumber": end,
        "batchSize": 3,
        "streamArn": ARN,
    }
    return json.dumps({"requestContext": {"condition": "RecordAgeExceeded"}, "DDBStreamBatchInfo": info})


def record(sequence: int, key: str) -> dict[str, Any]:
    return {"dynamodb": {"SequenceNumber": str(sequence), "Keys": {"id": {"S": key}}}}


def test_a_parked_record_names_its_member() -> None:
    entry = parse_entry("m1", "h1", parked_body(MEMBER))
    assert (entry.member_ids, entry.unresolved, entry.resolved) == ([MEMBER], None, True)


def test_a_parked_record_keyed_otherwise_cannot_be_repaired_and_shows_no_key() -> None:
    body = parked_body("ada@example.org")
    assert "ada@example.org" not in body  # hashed when parked
    entry = parse_entry("m1", "h1", body)
    assert entry.member_ids == []
    assert entry.unresolved is not None
    assert "not a member id" in entry.unresolved
    assert parse_entry("m2", "h2", parked_body(None)).unresolved == "the parked record had no readable key"


def test_lambdas_record_is_a_shard_range() -> None:
    entry = parse_entry("m1", "h1", lambda_body())
    assert entry.stream_range is not None
    assert (entry.stream_range.shard_id, entry.stream_range.start, entry.stream_range.end) == (
        "shardId-1",
        "100",
        "300",
    )
    assert parse_entry("m2", "h2", "not json").unresolved == "not a stream failure record"
    assert parse_entry("m3", "h3", json.dumps({"DDBStreamBatchInfo": {"shardId": "s"}})).unresolved


def test_a_range_is_read_whole_or_not_at_all() -> None:
    records = [
        record(90, OTHER),
        record(100, MEMBER),
        record(200, OTHER),
        record(200, "legacy-key"),
        record(300, MEMBER),
        record(400, "x"),
    ]
    assert members_in_range(records, 100, 300) == [MEMBER, OTHER]
    assert members_in_range(records[2:], 100, 300) is None  # the first record is gone (trimmed)
    assert members_in_range(records[:3], 100, 300) is None  # the last never came


class FakeStreams:
    def __init__(self, pages: list[list[dict[str, Any]]], *, fail: bool = False) -> None:
        self.pages = pages
        self.fail = fail
        self.asked: list[dict[str, Any]] = []

    def get_shard_iterator(self, **request: Any) -> dict[str, Any]:
        self.asked.append(request)
        if self.fail:
            raise ClientError({"Error": {"Code": "TrimmedDataAccessException"}}, "GetShardIterator")
        return {"ShardIterator": "0"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        index = int(ShardIterator)
        page = self.pages[index] if index < len(self.pages) else []
        return {"Records": page, "NextShardIterator": str(index + 1)}


def test_the_reader_starts_at_the_ranges_first_record_and_follows_the_shard() -> None:
    streams = FakeStreams([[record(100, MEMBER)], [], [record(300, OTHER)]])
    entry = parse_entry("m", "h", lambda_body())
    assert entry.stream_range is not None
    assert StreamRangeReader(streams).member_ids(entry.stream_range) == [MEMBER, OTHER]
    assert streams.asked[0]["ShardIteratorType"] == "AT_SEQUENCE_NUMBER"
    assert streams.asked[0]["SequenceNumber"] == "100"


def test_a_trimmed_range_or_an_endless_wait_resolves_nothing() -> None:
    entry = parse_entry("m", "h", lambda_body())
    assert entry.stream_range is not None
    assert StreamRangeReader(FakeStreams([], fail=True)).member_ids(entry.stream_range) is None
    assert StreamRangeReader(FakeStreams([[record(100, MEMBER)]])).member_ids(entry.stream_range) is None


def test_resolve_collects_members_once_and_says_why_the_rest_cannot_be() -> None:
    entries = [
        parse_entry("a", "ha", parked_body(MEMBER)),
        parse_entry("b", "hb", lambda_body()),
        parse_entry("c", "hc", lambda_body(shard="gone")),
        parse_entry("d", "hd", parked_body("ada@example.org")),
    ]

    def read(stream_range: Any) -> list[str] | None:
        return [MEMBER, OTHER] if stream_range.shard_id == "shardId-1" else None

    resolution = resolve(entries, read)
    assert resolution.member_ids == [MEMBER, OTHER]
    assert [entry.message_id for entry in resolution.resolved] == ["a", "b"]
    assert [(entry.message_id, reason.split(":")[0]) for entry, reason in resolution.unresolved] == [
        ("c", "shard gone sequence 100 to 300, 3 records"),
        ("d", "the parked record's key is not a member id (a writer keyed it otherwise)"),
    ]
    assert resolution.ranges_read == 2
