"""In-process moto with the member table and every queue of template.yaml, named through the environment.

Source queues move a message to their dead-letter queue on its second receive (maxReceiveCount 1), so
tests can make "moved by SQS" dead letters without waiting. Each test runs in its own working directory,
so a developer's running local stack (`.local/stack.json`) is never the target.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cio_sync.pipeline.messages import TRACK_LANES
from cio_sync_cli.main import main
from cio_sync_cli.member_writes import MemberAdmin
from cio_sync_cli.target import IMPORT_BUCKET, MEMBER_TABLE, QUEUES, STACK_VARIABLE

REGION = "us-east-1"
TABLE = "ops-members"
LANES = TRACK_LANES  # the one lane count every producer uses
# Logical id -> (physical name, dead-letter queue's logical id)
QUEUE_LAYOUT: dict[str, tuple[str, str | None]] = {
    "TrackDeadLetterQueue": ("ops-track-dlq.fifo", None),
    "EmailDeadLetterQueue": ("ops-email-dlq", None),
    "ImportFileDeadLetterQueue": ("ops-import-file-dlq", None),
    "ImportChunkDeadLetterQueue": ("ops-import-chunk-dlq.fifo", None),
    "StreamFailureQueue": ("ops-stream-failures", None),
    "TrackQueue": ("ops-track.fifo", "TrackDeadLetterQueue"),
    "EmailQueue": ("ops-email", "EmailDeadLetterQueue"),
    "ImportFileQueue": ("ops-import-file", "ImportFileDeadLetterQueue"),
    "ImportChunkQueue": ("ops-import-chunk.fifo", "ImportChunkDeadLetterQueue"),
}


@dataclass
class Resources:
    sqs: Any
    members: MemberAdmin
    urls: dict[str, str]

    def bodies(self, logical_id: str) -> list[dict[str, Any]]:
        """Receive (and delete) everything on a queue: what a consumer would get."""
        received: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.urls[logical_id],
                MaxNumberOfMessages=10,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                return received
            for message in batch:
                handle = message["ReceiptHandle"]
                self.sqs.delete_message(QueueUrl=self.urls[logical_id], ReceiptHandle=handle)
            received.extend(batch)

    def visible(self, logical_id: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.urls[logical_id], AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def move_to_dead_letters(self, logical_id: str, **send: Any) -> None:
        """Send to a source queue and receive twice: SQS itself moves it to the DLQ (no reason recorded)."""
        url = self.urls[logical_id]
        self.sqs.send_message(QueueUrl=url, **send)
        for _ in range(2):
            self.sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, MaxNumberOfMessages=10)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    names = [MEMBER_TABLE.variable, IMPORT_BUCKET.variable, STACK_VARIABLE]
    names += [resource.variable for resource in QUEUES.values()]
    names += ["AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION"]
    for name in names:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.chdir(tmp_path)
    with mock_aws():
        yield


@pytest.fixture
def resources(aws: None, monkeypatch: pytest.MonkeyPatch) -> Resources:
    members = MemberAdmin(TABLE, region=REGION)
    members.create_table()
    sqs = boto3.client("sqs", region_name=REGION)
    urls: dict[str, str] = {}
    for logical_id, (name, dead_letters) in QUEUE_LAYOUT.items():
        attributes = {"FifoQueue": "true"} if name.endswith(".fifo") else {}
        if dead_letters is not None:
            arn = sqs.get_queue_attributes(QueueUrl=urls[dead_letters], AttributeNames=["QueueArn"])
            policy = {"deadLetterTargetArn": arn["Attributes"]["QueueArn"], "maxReceiveCount": 1}
            attributes["RedrivePolicy"] = json.dumps(policy)
        urls[logical_id] = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        monkeypatch.setenv(QUEUES[logical_id].variable, urls[logical_id])
    monkeypatch.setenv(MEMBER_TABLE.variable, TABLE)
    return Resources(sqs, members, urls)


@dataclass
class Run:
    code: int
    out: str
    err: str


Cli = Callable[..., Run]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    def run(*argv: str) -> Run:
        code = main(list(argv))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def assert_one_line_error(result: Run, *fragments: str) -> None:
    """An expected problem: exit 1, one `cio-sync: ...` line on stderr, no traceback, nothing on stdout."""
    assert result.code == 1
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("cio-sync: ")
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0]
