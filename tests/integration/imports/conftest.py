"""The import's AWS resources in in-process moto: a versioned bucket notifying a queue, the FIFO chunk queue,
the member and idempotency tables; and a pump that plays the two SQS event source mappings."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cio_sync.adapters.import_storage import DynamoRowClaims, S3ReportStore, S3Uploads
from cio_sync.adapters.sqs import SqsChunkQueue
from cio_sync.handlers import import_chunk, import_file
from cio_sync.handlers.import_chunk_runtime import ImportChunkRuntime
from cio_sync.handlers.import_file_runtime import ImportFileRuntime
from cio_sync.handlers.sqs_batch import EveryRecordFailed
from cio_sync.imports.chunk import Members, RowClaims
from cio_sync.imports.keys import report_key
from cio_sync.imports.plan import ChunkQueue, PlanLimits, Uploads
from cio_sync.imports.report import ImportReport
from cio_sync.imports.settle import ReportStore
from cio_sync_cli.member_writes import MemberAdmin
from cio_sync_local import moto_transactions

REGION = "us-east-1"
BUCKET = "cio-sync-test-imports"
MEMBER_TABLE = "cio-sync-test-members"
IDEMPOTENCY_TABLE = "cio-sync-test-idempotency"
FILE_QUEUE = "cio-sync-test-import-file"
CHUNK_QUEUE = "cio-sync-test-import-chunk.fifo"


@dataclass(frozen=True)
class ImportDeps:
    """Both import functions' adapters over the one moto stack; each handler takes its own slice."""

    uploads: Uploads
    store: ReportStore
    queue: ChunkQueue
    claims: RowClaims
    members: Members
    limits: PlanLimits

    def for_file(self) -> ImportFileRuntime:
        return ImportFileRuntime(self.uploads, self.store, self.queue, self.limits)

    def for_chunk(self) -> ImportChunkRuntime:
        return ImportChunkRuntime(self.claims, self.members, self.store)


Handler = Callable[[dict[str, Any], Any, ImportDeps], dict[str, Any]]


def plan_file(event: dict[str, Any], context: Any, deps: ImportDeps) -> dict[str, Any]:
    """The import-file function's `handle` on these adapters."""
    return import_file.handle(event, context, deps.for_file())


def mute_chunk(event: dict[str, Any], context: Any, deps: ImportDeps) -> dict[str, Any]:
    """The import-chunk function's `handle` on these adapters."""
    return import_chunk.handle(event, context, deps.for_chunk())


@dataclass
class Stack:
    s3: Any
    sqs: Any
    dynamodb: Any
    file_queue_url: str
    chunk_queue_url: str
    members: MemberAdmin
    deps: ImportDeps

    def with_limits(self, limits: PlanLimits) -> None:
        self.deps = replace(self.deps, limits=limits)

    def upload(self, key: str, content: bytes) -> str:
        response = self.s3.put_object(Bucket=BUCKET, Key=key, Body=content)
        return str(response["ETag"])

    def report(self, import_id: str) -> ImportReport | None:
        return self.deps.store.read_report(import_id)

    def text(self, key: str) -> str:
        return str(self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode())

    def receive(self, queue_url: str) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=1, AttributeNames=["All"], WaitTimeSeconds=0
        )
        return list(response.get("Messages", []))

    def deliver(self, queue_url: str, handler: Handler, *, delete: bool = True) -> dict[str, Any] | None:
        """One receive -> handler -> delete what did not fail, as Lambda's event source mapping does."""
        messages = self.receive(queue_url)
        if not messages:
            return None
        try:
            response = handler(sqs_event(messages, queue_url), None, self.deps)
        except EveryRecordFailed:
            # Every record failed and the handler raised: Lambda returns the whole batch to the queue.
            response = {
                "batchItemFailures": [{"itemIdentifier": message["MessageId"]} for message in messages]
            }
        failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] in failed or not delete:
                self.sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return response

    def plan_uploads(self) -> int:
        """Run the import-file function until its queue is empty; returns how many messages it took."""
        runs = 0
        while self.deliver(self.file_queue_url, plan_file) is not None:
            runs += 1
        return runs

    def run_chunks(self, limit: int = 1000) -> int:
        runs = 0
        while runs < limit and self.deliver(self.chunk_queue_url, mute_chunk) is not None:
            runs += 1
        return runs

    def queued(self, queue_url: str) -> int:
        attributes = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def report_exists(self, import_id: str) -> bool:
        listed = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=report_key(import_id))
        return bool(listed.get("KeyCount"))


def sqs_event(messages: list[dict[str, Any]], queue_url: str) -> dict[str, Any]:
    """The event Lambda hands an SQS-triggered function."""
    name = queue_url.rsplit("/", 1)[-1]
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:{name}",
                "awsRegion": REGION,
            }
            for message in messages
        ]
    }


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # the CLI reads .local/stack.json here: a `make run` beside must not count
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "CioSync")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # The chunk mutes with TransactWriteItems on ten threads: moto's must be isolated, as DynamoDB's is.
    moto_transactions.install()
    with mock_aws():
        yield


@pytest.fixture
def stack(aws: None) -> Stack:
    s3 = boto3.client("s3", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    file_queue_url = sqs.create_queue(QueueName=FILE_QUEUE)["QueueUrl"]
    file_queue_arn = sqs.get_queue_attributes(QueueUrl=file_queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": file_queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "mute-promotions/"}]}},
                }
            ]
        },
    )
    _drop_test_event(sqs, file_queue_url)
    chunk_queue_url = sqs.create_queue(
        QueueName=CHUNK_QUEUE, Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"}
    )["QueueUrl"]
    dynamodb.create_table(
        TableName=IDEMPOTENCY_TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    members = MemberAdmin(MEMBER_TABLE)
    members.create_table()
    deps = ImportDeps(
        uploads=S3Uploads(s3, chunk_bytes=64),
        store=S3ReportStore(s3, BUCKET),
        queue=SqsChunkQueue(sqs, chunk_queue_url),
        claims=DynamoRowClaims(dynamodb, IDEMPOTENCY_TABLE, members.mute_request, members.restamp_request),
        members=members,
        limits=PlanLimits(max_bytes=1_000_000, partitions=3, chunk_rows=2),
    )
    return Stack(s3, sqs, dynamodb, file_queue_url, chunk_queue_url, members, deps)


def _drop_test_event(sqs: Any, queue_url: str) -> None:
    """moto, like S3, sends an s3:TestEvent when the notification is configured; the planner skips it, and
    removing it here keeps message counts in the tests about uploads only."""
    for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        assert json.loads(message["Body"]).get("Event") == "s3:TestEvent"
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
