"""`--stack NAME`: the CLI finds everything through a CloudFormation stack's Outputs (moto CloudFormation)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from cio_sync.pipeline.messages import TRACK_LANES, decode_intents, lane_of
from tests.integration.ops.conftest import REGION, Cli, assert_one_line_error

STACK = "cio-sync-test"
TEMPLATE = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Resources": {
        "MemberTable": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": "stack-members",
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            },
        },
        "ImportBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "stack-imports"}},
        "TrackDeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": "stack-track-dlq.fifo", "FifoQueue": True},
        },
        "TrackQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": "stack-track.fifo",
                "FifoQueue": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["TrackDeadLetterQueue", "Arn"]},
                    "maxReceiveCount": 5,
                },
            },
        },
    },
    "Outputs": {
        "MemberTableName": {"Value": {"Ref": "MemberTable"}},
        "ImportBucketName": {"Value": {"Ref": "ImportBucket"}},
        "TrackQueueUrl": {"Value": {"Ref": "TrackQueue"}},
        "TrackDeadLetterQueueUrl": {"Value": {"Ref": "TrackDeadLetterQueue"}},
    },
}


@pytest.fixture
def stack(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName=STACK, TemplateBody=json.dumps(TEMPLATE)
    )
    # Left over in the operator's shell: a named stack must not mix these in.
    monkeypatch.setenv("MEMBER_TABLE_NAME", "some-other-table")


def test_members_reconcile_and_dead_letters_act_on_the_stack(stack: None, cli: Cli) -> None:
    member_id = cli("members", "create", "--web", "--email", "ada@example.org", "--stack", STACK).out.strip()
    assert json.loads(cli("members", "show", member_id, "--stack", STACK).out)["id"] == member_id

    reconciled = cli("reconcile", "--members-only", "--stack", STACK, "--yes")
    assert (reconciled.code, json.loads(reconciled.out)["members"]["queued"]) == (0, 1)
    assert f"stack {STACK} (AWS {REGION})" in reconciled.err
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName="stack-track.fifo")["QueueUrl"]
    message = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"])["Messages"][0]
    assert [intent.member_id for intent in decode_intents(message["Body"])] == [member_id]
    assert message["Attributes"]["MessageGroupId"] == lane_of(member_id, TRACK_LANES)  # its one lane

    listed = cli("dlq", "list", "--stack", STACK)
    assert (listed.code, listed.out.strip()) == (0, "track (stack-track-dlq.fifo): empty")
    assert "email: not configured for stack cio-sync-test, skipped" in listed.err


def test_the_stack_may_be_named_in_the_environment(
    stack: None, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIO_SYNC_STACK", STACK)
    assert cli("members", "create", "--sms", "--mobile", "+15555550123").code == 0


def test_imports_upload_to_the_stacks_bucket(stack: None, cli: Cli, tmp_path: Path) -> None:
    csv = tmp_path / "mute.csv"
    csv.write_text("northstar_id\n5f0c8e2a9b1d4c3e2f1a0b9c\n")
    result = cli("imports", "upload", str(csv), "--stack", STACK, "--yes")
    assert result.code == 0
    keys = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket="stack-imports")["Contents"]
    assert [item["Key"] for item in keys] == ["mute-promotions/mute.csv"]


def test_a_resource_the_stack_does_not_output_is_one_line(stack: None, cli: Cli) -> None:
    assert_one_line_error(
        cli("dlq", "list", "--queue", "email", "--stack", STACK),
        "no EmailDeadLetterQueue for stack cio-sync-test",
    )


def test_a_missing_stack_is_one_line(aws: None, cli: Cli) -> None:
    assert_one_line_error(
        cli("reconcile", "--stack", "nope"), "CloudFormation stack nope does not exist in us-east-1"
    )
