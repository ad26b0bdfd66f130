"""The Lambda entry points as deployed: settings from the environment, the sample events from events/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cio_sync.handlers import import_chunk, import_file
from cio_sync.imports.keys import import_id_for, parts_prefix
from tests.integration.imports.conftest import (
    BUCKET,
    CHUNK_QUEUE,
    IDEMPOTENCY_TABLE,
    MEMBER_TABLE,
    REGION,
    Stack,
    mute_chunk,
    sqs_event,
)

EVENTS = Path(__file__).resolve().parents[3] / "events"


class LambdaContext:
    function_name = "cio-sync-test-import"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cio-sync-test-import"
    aws_request_id = "00000000-0000-4000-8000-000000000000"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 600_000


def forget_process_caches() -> None:
    """A new execution environment: each function builds its runtime afresh from the environment."""
    import_file.runtime.cache_clear()
    import_chunk.runtime.cache_clear()


@pytest.fixture
def deployed(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The functions' environment, as template.yaml sets it, pointing at the moto resources."""
    monkeypatch.setenv("AWS_REGION", REGION)  # Lambda sets it
    monkeypatch.setenv("IMPORT_BUCKET", BUCKET)
    monkeypatch.setenv("IMPORT_CHUNK_QUEUE_URL", stack.chunk_queue_url)
    monkeypatch.setenv("MEMBER_TABLE_NAME", MEMBER_TABLE)
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", IDEMPOTENCY_TABLE)
    monkeypatch.setenv("IMPORT_MAX_BYTES", "100000")
    forget_process_caches()
    yield stack
    forget_process_caches()


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


def test_the_deployed_handlers_run_an_import_end_to_end(deployed: Stack) -> None:
    ids = [str(deployed.members.create_web_signup({"email": f"m{n}@example.org"})["id"]) for n in range(3)]
    etag = deployed.upload("mute-promotions/handler.csv", ("northstar_id\n" + "\n".join(ids) + "\n").encode())
    import_id = import_id_for(BUCKET, "mute-promotions/handler.csv", etag)
    messages = deployed.receive(deployed.file_queue_url)
    assert import_file.handler(sqs_event(messages, deployed.file_queue_url), LambdaContext()) == {
        "batchItemFailures": []
    }
    while chunk := deployed.receive(deployed.chunk_queue_url):
        response = import_chunk.handler(sqs_event(chunk, deployed.chunk_queue_url), LambdaContext())
        assert response == {"batchItemFailures": []}
        deployed.sqs.delete_message(
            QueueUrl=deployed.chunk_queue_url, ReceiptHandle=chunk[0]["ReceiptHandle"]
        )
    report = deployed.report(import_id)
    assert report is not None
    assert report.status == "completed"
    assert dict(report.counts)["muted"] == 3
    assert import_file.runtime().limits.max_bytes == 100_000


def test_the_sample_upload_event_is_understood(deployed: Stack) -> None:
    event = sample("import_file.json")
    notification = json.loads(event["Records"][0]["body"])["Records"][0]["s3"]
    bucket, key = notification["bucket"]["name"], notification["object"]["key"]
    deployed.s3.create_bucket(Bucket=bucket)
    deployed.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    deployed.s3.put_object(Bucket=bucket, Key=key, Body=b"northstar_id\n")
    # The sample names a version this bucket never had: the import is rejected, with the reason recorded.
    response = import_file.handle(event, LambdaContext(), import_file.runtime())
    assert response == {"batchItemFailures": []}
    import_id = import_id_for(bucket, key, notification["object"]["eTag"])
    stored = deployed.s3.get_object(Bucket=BUCKET, Key=f"reports/mute-promotions/{import_id}.json")
    report = json.loads(stored["Body"].read())
    assert (report["status"], report["reason"]) == ("rejected", "the uploaded file no longer exists")
    assert report["source"]["version"] == notification["object"]["versionId"]


def test_the_sample_chunk_event_is_understood(deployed: Stack) -> None:
    event = sample("import_chunk.json")
    body = json.loads(event["Records"][0]["body"])
    response = import_chunk.handle(event, LambdaContext(), import_chunk.runtime())
    assert response == {"batchItemFailures": []}
    part = deployed.s3.get_object(Bucket=BUCKET, Key=f"{parts_prefix(body['import_id'])}chunk-000000.json")
    assert json.loads(part["Body"].read())["counts"]["not_found"] == len(body["rows"])


def test_a_malformed_chunk_message_fails_and_stays_for_the_dead_letter_queue(deployed: Stack) -> None:
    deployed.sqs.send_message(
        QueueUrl=deployed.chunk_queue_url, MessageBody="{}", MessageGroupId="g", MessageDeduplicationId="d"
    )
    assert deployed.deliver(deployed.chunk_queue_url, mute_chunk) is not None
    assert deployed.queued(deployed.chunk_queue_url) == 1
    assert CHUNK_QUEUE.endswith(".fifo")
