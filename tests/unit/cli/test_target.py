"""Where the operator CLI acts: the resolution order, per-resource precedence, and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cio_sync_cli.errors import CommandError
from cio_sync_cli.target import (
    CloudFormationStack,
    resolve_target,
)

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/cio-sync-dev-track.fifo"
LOCAL_QUEUE = "http://127.0.0.1:5000/123456789012/cio-sync-dev-track.fifo"


def stack_file(tmp_path: Path, **overrides: object) -> Path:
    info: dict[str, object] = {
        "aws_endpoint": "http://127.0.0.1:5000",
        "region": "us-east-1",
        "member_table": "local-members",
        "bucket": "local-imports",
        "queues": {"TrackQueue": LOCAL_QUEUE, "StreamFailureQueue": "http://127.0.0.1:5000/1/failures"},
    }
    info.update(overrides)
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(info))
    return path


class FakeStacks:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None, str | None]] = []

    def __call__(self, name: str, endpoint: str | None, region: str | None) -> CloudFormationStack:
        self.asked.append((name, endpoint, region))
        return CloudFormationStack(
            outputs={"MemberTableName": "prod-members", "TrackQueueUrl": QUEUE, "ImportBucketName": "prod-b"},
            parameters={},
        )


def test_a_named_stack_is_read_from_cloudformation_and_nothing_else(tmp_path: Path) -> None:
    stacks = FakeStacks()
    environ = {"AWS_REGION": "eu-west-1", "MEMBER_TABLE_NAME": "left-over", "TRACK_QUEUE_URL": "left-over"}
    target = resolve_target(
        "cio-sync-prod", environ=environ, stack_file=stack_file(tmp_path), read_stack=stacks
    )
    assert stacks.asked == [("cio-sync-prod", None, "eu-west-1")]
    assert (target.source, target.member_table, target.bucket) == ("cloudformation", "prod-members", "prod-b")
    assert target.queue_urls == {"TrackQueue": QUEUE}
    assert not target.local_credentials
    assert target.describe() == "stack cio-sync-prod (AWS eu-west-1)"


def test_the_local_stack_is_a_stack_too_read_from_its_moto_server(tmp_path: Path) -> None:
    stacks = FakeStacks()
    target = resolve_target(
        "cio-sync-local",
        environ={},
        stack_file=stack_file(tmp_path, stack_name="cio-sync-local"),
        read_stack=stacks,
    )
    assert stacks.asked == [("cio-sync-local", "http://127.0.0.1:5000", "us-east-1")]
    assert (target.source, target.member_table) == ("cloudformation", "prod-members")
    assert target.local_credentials
    assert target.describe() == "stack cio-sync-local (local) (http://127.0.0.1:5000)"
    other = resolve_target(
        "cio-sync-prod",
        environ={},
        stack_file=stack_file(tmp_path, stack_name="cio-sync-local"),
        read_stack=stacks,
    )
    assert (other.endpoint_url, other.local_credentials) == (None, False)


def test_the_stack_may_come_from_the_environment(tmp_path: Path) -> None:
    stacks = FakeStacks()
    target = resolve_target(
        None, environ={"CIO_SYNC_STACK": "s"}, stack_file=tmp_path / "x", read_stack=stacks
    )
    assert target.label == "stack s"
    assert stacks.asked == [("s", None, None)]


def test_an_endpoint_means_the_environment_names_everything(tmp_path: Path) -> None:
    environ = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:6000",
        "MEMBER_TABLE_NAME": "env-members",
        "TRACK_DEAD_LETTER_QUEUE_URL": "http://127.0.0.1:6000/1/dlq",
    }
    target = resolve_target(environ=environ, stack_file=stack_file(tmp_path))
    assert (target.source, target.endpoint_url, target.member_table) == (
        "environment",
        "http://127.0.0.1:6000",
        "env-members",
    )
    assert target.queue_urls == {"TrackDeadLetterQueue": "http://127.0.0.1:6000/1/dlq"}
    assert (target.bucket, target.local_credentials) == (None, False)


def test_the_local_stack_file_is_the_fallback_with_local_credentials(tmp_path: Path) -> None:
    target = resolve_target(environ={}, stack_file=stack_file(tmp_path))
    assert (target.source, target.endpoint_url, target.region) == (
        "local",
        "http://127.0.0.1:5000",
        "us-east-1",
    )
    assert (target.member_table, target.bucket) == ("local-members", "local-imports")
    assert target.queue_urls["TrackQueue"] == LOCAL_QUEUE
    assert target.local_credentials


def test_explicit_variables_win_over_the_local_stack_file(tmp_path: Path) -> None:
    environ = {"MEMBER_TABLE_NAME": "mine", "AWS_ACCESS_KEY_ID": "key", "AWS_DEFAULT_REGION": "eu-west-1"}
    target = resolve_target(environ=environ, stack_file=stack_file(tmp_path))
    assert (target.member_table, target.bucket, target.region) == ("mine", "local-imports", "eu-west-1")
    assert not target.local_credentials  # the operator's own credentials, then


def test_nothing_configured_fails_only_when_a_resource_is_needed(tmp_path: Path) -> None:
    target = resolve_target(environ={}, stack_file=tmp_path / "none.json")
    assert (target.source, target.queue_urls) == ("environment", {})
    with pytest.raises(CommandError, match=r"no member table: set MEMBER_TABLE_NAME, or pass --stack NAME"):
        target.require_member_table()
    with pytest.raises(CommandError, match="no TrackQueue for environment: set TRACK_QUEUE_URL"):
        target.queue_url("TrackQueue")


def test_a_broken_stack_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    path.write_text("{")
    with pytest.raises(CommandError, match="unreadable"):
        resolve_target(environ={}, stack_file=path)
    with pytest.raises(CommandError, match="names no aws_endpoint"):
        resolve_target(environ={}, stack_file=stack_file(tmp_path, aws_endpoint=None))
