"""The import races the other writers (issue "The invariant under adversarial histories", part 4), in moto.

Redelivered chunks must not re-mute a member who resubscribed since the import muted them; a file rejected
late must never overwrite a report that already shows muted rows; the rejected-rows CSV must not carry
formulas into a spreadsheet.
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from typing import Any

import boto3
import pytest

from cio_sync.adapters.import_storage import CLAIM_PREFIX, S3ReportStore
from cio_sync.imports.keys import import_id_for, rejected_csv_key, report_key
from cio_sync.imports.plan import PlanLimits
from cio_sync.imports.report import Part
from tests.integration.imports.conftest import BUCKET, IDEMPOTENCY_TABLE, REGION, Stack, mute_chunk, plan_file


def members(stack: Stack, count: int) -> list[str]:
    return [
        str(stack.members.create_web_signup({"email": f"racer{number}@example.org"})["id"])
        for number in range(count)
    ]


def muted_at(stack: Stack, member_id: str) -> object:
    member = stack.members.get(member_id)
    assert member is not None
    return member["promotions_muted_at"]


def resubscribe(stack: Stack, member_id: str) -> None:
    """The member picks another email topic: the subscription rules clear the mute."""
    stack.members.update(member_id, {"email_subscription_topics": ["community", "news"]})
    assert muted_at(stack, member_id) is None


def upload(stack: Stack, key: str, ids: list[str]) -> str:
    etag = stack.upload(key, ("northstar_id\n" + "\n".join(ids) + "\n").encode())
    return import_id_for(BUCKET, key, etag)


class PartWriteFails(S3ReportStore):
    def write_part(self, import_id: str, part: Part) -> None:
        raise ConnectionError("S3 timed out")


def test_a_chunk_redelivered_after_a_resubscribe_does_not_mute_the_member_again(stack: Stack) -> None:
    ids = members(stack, 3)
    stack.with_limits(PlanLimits(max_bytes=10_000, partitions=1, chunk_rows=10))
    import_id = upload(stack, "mute-promotions/resubscribe.csv", ids)
    stack.plan_uploads()

    # First delivery: every row is muted, then the part cannot be written, so the message comes back.
    real_store = stack.deps.store
    stack.deps = replace(stack.deps, store=PartWriteFails(stack.s3, BUCKET))
    failed = stack.deliver(stack.chunk_queue_url, mute_chunk)
    assert failed is not None
    assert len(failed["batchItemFailures"]) == 1
    report = stack.report(import_id)
    assert report is not None
    assert {muted_at(stack, member_id) for member_id in ids} == {report.started_at}

    # Before the redelivery, one member resubscribes.
    resubscribe(stack, ids[0])

    stack.deps = replace(stack.deps, store=real_store)
    stack.run_chunks()
    assert muted_at(stack, ids[0]) is None
    assert [muted_at(stack, member_id) for member_id in ids[1:]] == [report.started_at] * 2
    final = stack.report(import_id)
    assert final is not None
    assert final.status == "completed"
    # The report says what the import did: it muted all three (one has resubscribed since).
    assert dict(final.counts)["muted"] == 3


class Crash(Exception):
    """The function dies (a timeout, an out-of-memory) right after a DynamoDB call returned."""


class CrashAfterTheMute:
    """Makes the DynamoDB call that muted `member_id` raise once, after it took effect, whatever the call.

    Registered on every DynamoDB client the import uses (boto3's and pynamodb's), it reads the member with a
    client of its own after each write call; the first time the member is muted, the caller crashes.
    """

    def __init__(self, stack: Stack, member_id: str) -> None:
        self.member_id = member_id
        self.crashed = False
        self._reader = boto3.client("dynamodb", region_name=REGION)
        self._table = stack.members.model.Meta.table_name
        for client in (stack.dynamodb, stack.members.model._get_connection().connection.client):
            client.meta.events.register("after-call.dynamodb", self)

    def __call__(self, http_response: Any, model: Any, **_: Any) -> None:
        if self.crashed or http_response.status_code >= 300:
            return
        if model.name not in {"UpdateItem", "TransactWriteItems", "PutItem"}:
            return
        item = self._reader.get_item(
            TableName=self._table, Key={"id": {"S": self.member_id}}, ConsistentRead=True
        )
        if item.get("Item", {}).get("promotions_muted_at", {}).get("S"):
            self.crashed = True
            raise Crash(f"died right after {model.name} muted the member")


def test_a_crash_right_after_the_mute_then_a_resubscribe_is_replayed_not_repeated(stack: Stack) -> None:
    ids = members(stack, 2)
    stack.with_limits(PlanLimits(max_bytes=10_000, partitions=1, chunk_rows=10))
    import_id = upload(stack, "mute-promotions/crash.csv", ids)
    stack.plan_uploads()

    crash = CrashAfterTheMute(stack, ids[0])
    failed = stack.deliver(stack.chunk_queue_url, mute_chunk)
    assert crash.crashed
    assert failed is not None
    assert len(failed["batchItemFailures"]) == 1
    assert muted_at(stack, ids[0]) is not None

    resubscribe(stack, ids[0])
    stack.run_chunks()
    assert muted_at(stack, ids[0]) is None
    report = stack.report(import_id)
    assert report is not None
    assert report.status == "completed"
    assert muted_at(stack, ids[1]) == report.started_at
    assert dict(report.counts)["muted"] == 2


def test_claims_hold_ids_and_outcomes_only(stack: Stack) -> None:
    ids = members(stack, 2)
    stack.members.admin_mute(ids[1])
    unknown = "ffffffffffffffffffffffff"
    import_id = upload(stack, "mute-promotions/claims.csv", [*ids, unknown, ids[0]])
    stack.plan_uploads()
    stack.run_chunks()
    items = stack.dynamodb.scan(TableName=IDEMPOTENCY_TABLE)["Items"]
    claims = {
        item["id"]["S"]: (int(item["claimed_row"]["N"]), item["outcome"]["S"])
        for item in items
        if item["id"]["S"].startswith(f"{CLAIM_PREFIX}#{import_id}#")
    }
    assert claims == {
        f"{CLAIM_PREFIX}#{import_id}#{ids[0]}": (2, "muted"),
        f"{CLAIM_PREFIX}#{import_id}#{ids[1]}": (3, "already_muted"),
        f"{CLAIM_PREFIX}#{import_id}#{unknown}": (4, "not_found"),
    }
    assert all(set(item) == {"id", "claimed_row", "outcome", "expiration"} for item in items)


@pytest.mark.parametrize("fate", ["deleted", "overwritten"])
def test_a_late_rejection_never_overwrites_a_report_with_muted_rows(stack: Stack, fate: str) -> None:
    ids = members(stack, 4)
    stack.with_limits(PlanLimits(max_bytes=10_000, partitions=2, chunk_rows=1))
    key = "mute-promotions/late.csv"
    import_id = upload(stack, key, [*ids, "not-an-id"])
    [notification] = stack.receive(stack.file_queue_url)  # kept, to be delivered again later
    stack.sqs.change_message_visibility(
        QueueUrl=stack.file_queue_url, ReceiptHandle=notification["ReceiptHandle"], VisibilityTimeout=0
    )
    assert stack.plan_uploads() == 1
    stack.run_chunks(limit=1)
    started = stack.report(import_id)
    assert started is not None
    assert (started.status, started.chunks_done) == ("processing", 1)
    assert any(muted_at(stack, member_id) == started.started_at for member_id in ids)

    # The object goes away (or is replaced), then the upload's notification comes again: its read fails.
    if fate == "deleted":
        stack.s3.delete_object(Bucket=BUCKET, Key=key)
    else:
        [other] = members(stack, 1)
        stack.s3.put_object(Bucket=BUCKET, Key=key, Body=f"northstar_id\n{other}\n".encode())
        assert stack.plan_uploads() == 1  # the new object is an import of its own
    stack.sqs.send_message(QueueUrl=stack.file_queue_url, MessageBody=notification["Body"])
    retried = stack.deliver(stack.file_queue_url, plan_file, delete=False)
    assert stack.report(import_id) == started
    assert retried is not None
    assert (
        len(retried["batchItemFailures"]) == 1
    )  # the planner's message fails, towards its dead-letter queue
    stack.sqs.purge_queue(QueueUrl=stack.file_queue_url)

    stack.run_chunks()
    report = stack.report(import_id)
    assert report is not None
    assert report.status == "completed"
    assert dict(report.counts) == {
        "muted": 4,
        "already_muted": 0,
        "not_found": 0,
        "invalid": 1,
        "duplicate": 0,
    }
    assert {muted_at(stack, member_id) for member_id in ids} == {report.started_at}


def test_reports_are_created_once_and_replaced_only_from_the_version_read(stack: Stack) -> None:
    ids = members(stack, 1)
    import_id = upload(stack, "mute-promotions/versions.csv", ids)
    stack.plan_uploads()
    store = stack.deps.store
    stored = store.read_stored_report(import_id)
    assert stored is not None
    assert not store.create_report(replace(stored.report, status="rejected"))
    assert store.replace_report(replace(stored.report, chunks_done=1), stored.etag)
    # The version read is gone: a writer that read it (a slow settler, a late planner) is refused.
    assert not store.replace_report(replace(stored.report, status="rejected"), stored.etag)
    current = stack.report(import_id)
    assert current is not None
    assert (current.status, current.chunks_done) == ("processing", 1)
    assert '"status": "processing"' in stack.text(report_key(import_id))


def test_formula_values_in_the_rejected_rows_csv_are_neutralised(stack: Stack) -> None:
    ids = members(stack, 1)
    content = (
        "email,northstar_id\n"
        f"a@example.org,{ids[0]}\n"
        "b@example.org,=1+1\n"
        'c@example.org,"=HYPERLINK(""http://evil.example"",""click"")"\n'
        "d@example.org,+SUM(A1:A9)\n"
        "e@example.org,-2+3\n"
        "f@example.org,@cmd\n"
        'g@example.org,"=2,3"\n'
        "h@example.org,not-an-id\n"
    )
    etag = stack.upload("mute-promotions/formulas.csv", content.encode())
    import_id = import_id_for(BUCKET, "mute-promotions/formulas.csv", etag)
    stack.plan_uploads()
    stack.run_chunks()
    report = stack.report(import_id)
    assert report is not None
    assert report.status == "completed"
    rows = list(csv.reader(io.StringIO(stack.text(rejected_csv_key(import_id)))))
    assert rows[0] == ["row", "northstar_id", "outcome", "reason"]
    assert [row[:3] for row in rows[1:]] == [
        ["3", "'=1+1", "invalid"],
        ["4", '\'=HYPERLINK("http://evil.example","click")', "invalid"],
        ["5", "'+SUM(A1:A9)", "invalid"],
        ["6", "'-2+3", "invalid"],
        ["7", "'@cmd", "invalid"],
        ["8", "'=2,3", "invalid"],
        ["9", "not-an-id", "invalid"],
    ]
    assert all(len(row) == 4 for row in rows)
