"""Provisioning creates in moto server exactly what template.yaml declares, and S3 notifies as AWS does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from cio_sync_local.moto_server import MotoServer
from cio_sync_local.provision import Provisioned, aws_client, provision
from cio_sync_local.template import LocalContext, StackDescription, describe, load_template

pytestmark = pytest.mark.integration

SECRET_NAME = "cio-sync/customer-io"


@pytest.fixture(scope="module")
def provisioned() -> Iterator[tuple[StackDescription, Provisioned]]:
    """The real template in a moto server of its own (its names are fixed, so it gets a server alone)."""
    with MotoServer() as server:
        description = describe(load_template(), LocalContext(aws_endpoint=server.endpoint))
        result = provision(description, {SECRET_NAME: json.dumps({"site_id": "s"})})
        yield description, result


def _client(description: StackDescription, service: str) -> Any:
    return aws_client(service, description.context)


def _drain_queue(description: StackDescription, logical_id: str) -> list[dict[str, Any]]:
    sqs = _client(description, "sqs")
    url = description.queues[logical_id].url
    bodies: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_queues_carry_the_template_attributes_and_redrive_policies(
    provisioned: tuple[StackDescription, Provisioned],
) -> None:
    description, _ = provisioned
    sqs = _client(description, "sqs")
    for queue in description.queues.values():
        attributes = sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])["Attributes"]
        assert attributes["VisibilityTimeout"] == str(queue.visibility_timeout_s)
        assert (attributes.get("FifoQueue") == "true") == queue.fifo
        if queue.dead_letter_queue is None:
            assert "RedrivePolicy" not in attributes
        else:
            redrive = json.loads(attributes["RedrivePolicy"])
            assert redrive["deadLetterTargetArn"] == description.queues[queue.dead_letter_queue].arn
            assert int(redrive["maxReceiveCount"]) == queue.max_receive_count


def test_tables_have_their_keys_streams_and_ttl(provisioned: tuple[StackDescription, Provisioned]) -> None:
    description, result = provisioned
    dynamodb = _client(description, "dynamodb")
    for table in description.tables.values():
        described = dynamodb.describe_table(TableName=table.name)["Table"]
        assert [(k["AttributeName"], k["KeyType"]) for k in described["KeySchema"]] == list(table.key_schema)
        stream = described.get("StreamSpecification") or {}
        assert stream.get("StreamViewType") == table.stream_view_type
        ttl = dynamodb.describe_time_to_live(TableName=table.name)["TimeToLiveDescription"]
        assert ttl.get("AttributeName") == table.ttl_attribute
    assert (
        result.stream_arns["MemberTable"]
        == dynamodb.describe_table(TableName=description.tables["MemberTable"].name)["Table"][
            "LatestStreamArn"
        ]
    )


def test_the_customer_io_secret_exists(provisioned: tuple[StackDescription, Provisioned]) -> None:
    description, _ = provisioned
    secret = _client(description, "secretsmanager").get_secret_value(SecretId=SECRET_NAME)
    assert json.loads(secret["SecretString"]) == {"site_id": "s"}


def test_uploads_under_the_prefix_notify_the_import_queue_as_s3_does(
    provisioned: tuple[StackDescription, Provisioned],
) -> None:
    description, _ = provisioned
    bucket = description.buckets["ImportBucket"]
    s3 = _client(description, "s3")
    assert s3.get_bucket_versioning(Bucket=bucket.name)["Status"] == "Enabled"
    (notification,) = bucket.notifications
    queue = description.queues[notification.queue]
    bodies = _drain_queue(description, queue.logical_id)
    assert [body.get("Event") for body in bodies] == ["s3:TestEvent"]  # S3 sends one when configured

    put = s3.put_object(Bucket=bucket.name, Key=f"{notification.prefix}my list.csv", Body=b"northstar_id\n")
    s3.put_object(Bucket=bucket.name, Key="reports/elsewhere.json", Body=b"{}")

    (event,) = _drain_queue(description, queue.logical_id)
    (record,) = event["Records"]
    assert set(record) == {
        "eventVersion",
        "eventSource",
        "awsRegion",
        "eventTime",
        "eventName",
        "userIdentity",
        "requestParameters",
        "responseElements",
        "s3",
    }
    assert (record["eventSource"], record["eventName"], record["eventVersion"]) == (
        "aws:s3",
        "ObjectCreated:Put",
        "2.1",
    )
    s3_part = record["s3"]
    assert s3_part["bucket"]["name"] == bucket.name
    assert s3_part["bucket"]["arn"] == bucket.arn
    assert set(s3_part["object"]) == {"key", "size", "eTag", "versionId", "sequencer"}
    assert s3_part["object"]["key"] == "mute-promotions/my+list.csv"  # URL-encoded, as S3 sends it
    assert s3_part["object"]["versionId"] == put["VersionId"]
    assert s3_part["object"]["eTag"] == put["ETag"].strip('"')
    assert s3_part["object"]["size"] == len(b"northstar_id\n")
