"""The adapters' own logic (batching, retries, error mapping) with stand-in clients; moto covers the rest."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cio_sync.adapters.import_storage import DynamoRowClaims, S3ReportStore, S3Uploads
from cio_sync.adapters.sqs import CHUNK_BATCH_BYTES, SqsChunkQueue
from cio_sync.imports.chunk import ChunkMessage, Claim
from cio_sync.imports.report import ImportReport, ImportSource
from cio_sync.imports.text_lines import FileRejected

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
    assert all(
        sum(len(entry["MessageBody"]) for entry in batch) <= CHUNK_BATCH_BYTES for batch in sqs.batches
    )
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
    """The claim condition and TransactWriteItems' cancellation reasons; moto plays the real thing."""

    def __init__(self, member_condition_fails: bool = False) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.with_old_item_on_failure = True
        self.member_condition_fails = member_condition_fails
        self.transactions: list[list[dict[str, Any]]] = []

    def _claim_condition_holds(self, request: dict[str, Any]) -> bool:
        old = self.items.get(request["Item"]["id"]["S"])
        row = request["ExpressionAttributeValues"][":row"]
        return old is None or (old["claimed_row"] == row and "outcome" not in old)

    def put_item(self, **request: Any) -> dict[str, Any]:
        key = request["Item"]["id"]["S"]
        if not self._claim_condition_holds(request):
            extra = {"Item": self.items[key]} if self.with_old_item_on_failure else {}
            raise client_error("ConditionalCheckFailedException", "PutItem", **extra)
        self.items[key] = request["Item"]
        return {}

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        self.transactions.append(TransactItems)
        update, put = TransactItems[0]["Update"], TransactItems[1]["Put"]
        assert update["TableName"] == "members"
        claim_fails = not self._claim_condition_holds(put)
        if claim_fails or self.member_condition_fails:
            old = self.items.get(put["Item"]["id"]["S"])
            claim_reason: dict[str, Any] = (
                {"Code": "ConditionalCheckFailed"} if claim_fails else {"Code": "None"}
            )
            if claim_fails and self.with_old_item_on_failure and old is not None:
                claim_reason["Item"] = old
            member_reason = {"Code": "ConditionalCheckFailed" if self.member_condition_fails else "None"}
            raise client_error(
                "TransactionCanceledException",
                "TransactWriteItems",
                CancellationReasons=[member_reason, claim_reason],
            )
        self.items[put["Item"]["id"]["S"]] = put["Item"]
        return {}

    def get_item(self, **request: Any) -> dict[str, Any]:
        item = self.items.get(request["Key"]["id"]["S"])
        return {"Item": item} if item is not None else {}


def mute_request(member_id: str, now: str) -> dict[str, Any]:
    return {"TableName": "members", "Key": {"id": {"S": member_id}}, "UpdateExpression": f"SET m = {now}"}


def restamp_request(member_id: str, now: str, seen: str) -> dict[str, Any]:
    return {
        "TableName": "members",
        "Key": {"id": {"S": member_id}},
        "UpdateExpression": f"SET m = {now} ({seen})",
    }


def claims_on(dynamo: Any) -> DynamoRowClaims:
    return DynamoRowClaims(dynamo, "idempotency", mute_request, restamp_request, clock=lambda: 1_000_000)


def test_a_mute_is_one_transaction_of_the_member_update_and_the_claim_with_its_outcome() -> None:
    dynamo = FakeDynamo()
    assert claims_on(dynamo).mute("imp", MEMBER, 2, "t") == Claim(2, "muted")
    [[member, claim]] = dynamo.transactions
    assert member == {"Update": mute_request(MEMBER, "t")}
    assert claim["Put"]["Item"] == {
        "id": {"S": f"mute-import#imp#{MEMBER}"},
        "claimed_row": {"N": "2"},
        "outcome": {"S": "muted"},
        "expiration": {"N": str(1_000_000 + 30 * 24 * 3600)},
    }


def test_a_decided_claim_is_replayed_and_another_rows_claim_is_its_holder() -> None:
    dynamo = FakeDynamo()
    claims = claims_on(dynamo)
    assert claims.mute("imp", MEMBER, 2, "t") == Claim(2, "muted")
    assert claims.mute("imp", MEMBER, 2, "t") == Claim(2, "muted")
    assert claims.record("imp", MEMBER, 2, "already_muted") == Claim(2, "muted")
    assert claims.mute("imp", MEMBER, 9, "t") == Claim(2, "muted")
    dynamo.with_old_item_on_failure = False
    assert claims.record("imp", MEMBER, 9, "not_found") == Claim(2, "muted")
    assert claims.mute("imp", MEMBER, 9, "t") == Claim(2, "muted")
    assert claims.record("other", MEMBER, 9, "not_found") == Claim(9, "not_found")


def test_a_member_that_is_missing_or_muted_leaves_the_claim_to_be_recorded() -> None:
    dynamo = FakeDynamo(member_condition_fails=True)
    claims = claims_on(dynamo)
    assert claims.mute("imp", MEMBER, 2, "t") == Claim(2)
    assert dynamo.items == {}
    assert claims.record("imp", MEMBER, 2, "already_muted") == Claim(2, "already_muted")


def test_an_undecided_claim_of_the_same_row_is_decided() -> None:
    dynamo = FakeDynamo()
    key = f"mute-import#imp#{MEMBER}"
    dynamo.items[key] = {"id": {"S": key}, "claimed_row": {"N": "2"}, "expiration": {"N": "1"}}
    assert claims_on(dynamo).mute("imp", MEMBER, 2, "t") == Claim(2, "muted")
    dynamo.items[key] = {"id": {"S": key}, "claimed_row": {"N": "2"}, "expiration": {"N": "1"}}
    assert claims_on(dynamo).mute("imp", MEMBER, 3, "t") == Claim(2)


def test_an_unknown_recorded_outcome_is_an_error() -> None:
    dynamo = FakeDynamo()
    key = f"mute-import#imp#{MEMBER}"
    dynamo.items[key] = {"id": {"S": key}, "claimed_row": {"N": "2"}, "outcome": {"S": "eaten"}}
    with pytest.raises(RuntimeError, match="unknown outcome"):
        claims_on(dynamo).record("imp", MEMBER, 2, "not_found")


@pytest.mark.parametrize(
    ("operation", "error"),
    [
        ("put_item", client_error("ProvisionedThroughputExceededException", "PutItem")),
        (
            "transact_write_items",
            client_error(
                "TransactionCanceledException",
                "TransactWriteItems",
                CancellationReasons=[{"Code": "TransactionConflict"}, {"Code": "None"}],
            ),
        ),
        ("transact_write_items", client_error("ThrottlingException", "TransactWriteItems")),
    ],
)
def test_claim_errors_other_than_the_conditions_propagate(operation: str, error: ClientError) -> None:
    class Failing:
        def put_item(self, **request: Any) -> dict[str, Any]:
            raise error

        def transact_write_items(self, **request: Any) -> dict[str, Any]:
            raise error

    claims = claims_on(Failing())

    def call() -> Claim:
        if operation == "put_item":
            return claims.record("imp", MEMBER, 2, "not_found")
        return claims.mute("imp", MEMBER, 2, "t")

    with pytest.raises(ClientError):
        call()


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


class ConditionalS3:
    """Records put_object requests; answers each with the next error, if any."""

    def __init__(self, errors: list[ClientError | None]) -> None:
        self.errors = errors
        self.requests: list[dict[str, Any]] = []

    def put_object(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error
        return {"ETag": '"new"'}


def report() -> ImportReport:
    source = ImportSource("b", "mute-promotions/a.csv", "e1")
    return ImportReport(source.import_id, "processing", source, "2026-11-26T16:00:00.000000Z")


def test_reports_are_only_created_if_absent_or_replaced_if_unchanged() -> None:
    s3 = ConditionalS3([None, None])
    store = S3ReportStore(s3, "b")
    assert store.create_report(report())
    assert store.replace_report(report(), '"e2"')
    assert [request.get("IfNoneMatch") for request in s3.requests] == ["*", None]
    assert [request.get("IfMatch") for request in s3.requests] == [None, '"e2"']


@pytest.mark.parametrize("code", ["PreconditionFailed", "ConditionalRequestConflict"])
def test_a_report_write_that_lost_the_race_says_so(code: str) -> None:
    store = S3ReportStore(ConditionalS3([client_error(code, "PutObject")] * 2), "b")
    assert not store.create_report(report())
    assert not store.replace_report(report(), '"e2"')


def test_other_report_write_errors_propagate() -> None:
    store = S3ReportStore(ConditionalS3([client_error("AccessDenied", "PutObject")]), "b")
    with pytest.raises(ClientError):
        store.replace_report(report(), '"e2"')
