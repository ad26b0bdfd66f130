"""The adapters' own logic (batching, retries, error mapping) with stand-in clients; moto covers the rest."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cio_sync.imports.chunk import ChunkMessage
from cio_sync.imports.report import ImportSource
from cio_sync.imports.rows import FileRejected
from cio_sync.imports.storage import BATCH_BYTES, DynamoRowClaims, S3ReportStore, S3Uploads, SqsChunkQueue

MEMBER = "0123456789abcdef01234567"


def client_error(code: str, operation: str = "Op", **extra: Any) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, **extra}, operation)


def message(chunk: int, partition: int, rows: int = 1) -> ChunkMessage:
    return ChunkMessage("imp", chunk, partition, tuple((n + 2, MEMBER) for n in range(rows)), "t", False)


class FakeSqs:
    def __init__(self, fail_ids: list[set[str]] | None = None) -> None:
        self.batches: list[list[dict[str, str]]] = []
        self.fail_ids = fail_ids or []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        self.batches.append(Entries)
        failing = self.fail_ids.pop(0) if self.fail_ids else set()
        return {"Failed": [{"Id": entry["Id"]} for entry in Entries if entry["Id"] in failing]}


def test_chunks_are_sent_in_batches_of_at_most_ten_with_one_message_per_group() -> None:
    sqs = FakeSqs()
    queue = SqsChunkQueue(sqs, "url", sleep=lambda _: None)
    queue.send([message(chunk, partition=chunk) for chunk in range(12)] + [message(12, partition=10)])
    assert [len(batch) for batch in sqs.batches] == [10, 2, 1]
    for batch in sqs.batches:
        groups = [entry["MessageGroupId"] for entry in batch]
        assert len(groups) == len(set(groups))
    first = sqs.batches[0][0]
    assert first == {
        "Id": "0",
        "MessageBody": message(0, 0).to_json(),
        "MessageGroupId": "imp-0",
        "MessageDeduplicationId": "imp-0",
    }


def test_batches_stay_under_the_byte_limit() -> None:
    sqs = FakeSqs()
    big = [message(chunk, partition=chunk, rows=2000) for chunk in range(6)]
    SqsChunkQueue(sqs, "url", sleep=lambda _: None).send(big)
    assert all(sum(len(entry["MessageBody"]) for entry in batch) <= BATCH_BYTES for batch in sqs.batches)
    assert sum(len(batch) for batch in sqs.batches) == 6


def test_entries_sqs_refused_are_resent_alone() -> None:
    sqs = FakeSqs(fail_ids=[{"1"}, {"1"}])
    slept: list[float] = []
    SqsChunkQueue(sqs, "url", sleep=slept.append).send([message(0, 0), message(1, 1), message(2, 2)])
    assert [[entry["Id"] for entry in batch] for batch in sqs.batches] == [["0", "1", "2"], ["1"], ["1"]]
    assert slept == [0.2, 0.4]


def test_entries_refused_every_time_fail_the_send() -> None:
    sqs = FakeSqs(fail_ids=[{"0"}] * 10)
    with pytest.raises(RuntimeError, match=r"refused 1 chunk message\(s\) after 4 attempts"):
        SqsChunkQueue(sqs, "url", sleep=lambda _: None).send([message(0, 0)])


class FakeS3:
    def __init__(self, error: ClientError | None = None) -> None:
        self.error = error
        self.requests: list[dict[str, Any]] = []

    def get_object(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        return {"Body": FakeBody([b"northstar_id\n", MEMBER.encode()])}


class FakeBody:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def iter_chunks(self, size: int) -> list[bytes]:
        return self.chunks

    def close(self) -> None:
        self.closed = True


def test_uploads_are_read_at_the_version_the_event_named_else_at_its_etag() -> None:
    s3 = FakeS3()
    read = S3Uploads(s3).reader(ImportSource("b", "mute-promotions/a.csv", "e1", version_id="v1"))
    assert b"".join(read()) == b"northstar_id\n" + MEMBER.encode()
    list(S3Uploads(s3).reader(ImportSource("b", "mute-promotions/a.csv", "e1"))())
    assert s3.requests == [
        {"Bucket": "b", "Key": "mute-promotions/a.csv", "VersionId": "v1"},
        {"Bucket": "b", "Key": "mute-promotions/a.csv", "IfMatch": "e1"},
    ]


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("NoSuchKey", "the uploaded file no longer exists"),
        ("NoSuchVersion", "the uploaded file no longer exists"),
        ("PreconditionFailed", "the file was replaced by a newer upload before it could be read"),
    ],
)
def test_an_upload_that_vanished_or_changed_is_rejected(code: str, reason: str) -> None:
    read = S3Uploads(FakeS3(client_error(code, "GetObject"))).reader(ImportSource("b", "k", "e"))
    with pytest.raises(FileRejected) as caught:
        list(read())
    assert caught.value.reason == reason


def test_other_s3_errors_are_not_rejections() -> None:
    read = S3Uploads(FakeS3(client_error("AccessDenied", "GetObject"))).reader(ImportSource("b", "k", "e"))
    with pytest.raises(ClientError):
        list(read())


class FakeDynamo:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.with_old_item_on_failure = True

    def put_item(self, **request: Any) -> dict[str, Any]:
        key = request["Item"]["id"]["S"]
        old = self.items.get(key)
        if old is not None and old["claimed_row"] != request["ExpressionAttributeValues"][":row"]:
            extra = {"Item": old} if self.with_old_item_on_failure else {}
            raise client_error("ConditionalCheckFailedException", "PutItem", **extra)
        self.items[key] = request["Item"]
        return {"Attributes": old} if old is not None else {}

    def get_item(self, **request: Any) -> dict[str, Any]:
        return {"Item": self.items[request["Key"]["id"]["S"]]}


def test_claims_are_first_come_renewable_and_expire() -> None:
    dynamo = FakeDynamo()
    claims = DynamoRowClaims(dynamo, "idempotency", clock=lambda: 1_000_000)
    first = claims.claim("imp", MEMBER, 2)
    assert (first.holder, first.renewed) == (2, False)
    assert claims.claim("imp", MEMBER, 2).renewed
    assert claims.claim("imp", MEMBER, 9).holder == 2
    dynamo.with_old_item_on_failure = False
    assert claims.claim("imp", MEMBER, 9).holder == 2
    assert claims.claim("other", MEMBER, 9).holder == 9
    stored = dynamo.items[f"mute-import#imp#{MEMBER}"]
    assert stored["claimed_row"] == {"N": "2"}
    assert int(stored["expiration"]["N"]) == 1_000_000 + 30 * 24 * 3600


def test_claim_errors_other_than_the_condition_propagate() -> None:
    class Throttled:
        def put_item(self, **request: Any) -> dict[str, Any]:
            raise client_error("ProvisionedThroughputExceededException", "PutItem")

    with pytest.raises(ClientError):
        DynamoRowClaims(Throttled(), "idempotency").claim("imp", MEMBER, 2)


def test_the_chunk_message_body_is_what_the_queue_carries() -> None:
    sqs = FakeSqs()
    SqsChunkQueue(sqs, "url").send([message(7, 3, rows=2)])
    body = json.loads(sqs.batches[0][0]["MessageBody"])
    assert body["rows"] == [[2, MEMBER], [3, MEMBER]]


class DeniedS3:
    """S3 as the functions see it: a GET of a missing key is 403 (ListBucket is limited to a prefix)."""

    def __init__(self, listed: list[str]) -> None:
        self.listed = listed

    def get_object(self, **request: Any) -> dict[str, Any]:
        raise client_error("AccessDenied", "GetObject")

    def list_objects_v2(self, **request: Any) -> dict[str, Any]:
        assert request["Prefix"].startswith("reports/mute-promotions/")
        return {"Contents": [{"Key": key} for key in self.listed if key.startswith(request["Prefix"])]}


def test_a_missing_report_read_as_403_is_missing_after_a_prefix_listing() -> None:
    assert S3ReportStore(DeniedS3([]), "b").read_report("abc") is None
    assert (
        S3ReportStore(DeniedS3(["reports/mute-promotions/abc.json.bak"]), "b").read_part("abc", "x") is None
    )


def test_a_403_on_a_report_that_exists_is_a_real_error() -> None:
    with pytest.raises(ClientError):
        S3ReportStore(DeniedS3(["reports/mute-promotions/abc.json"]), "b").read_report("abc")
