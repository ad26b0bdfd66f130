"""Create the derived resources in moto server with boto3, the way CloudFormation would create them.

Everything comes from the `StackDescription` (itself from template.yaml); the only thing this module adds
is the Customer.io secret, which the template references but never creates (its value comes from the
operator on AWS and from the emulator's credentials locally).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from cio_sync_local.template import BucketSpec, LocalContext, QueueSpec, StackDescription, TableSpec

LOCAL_ACCESS_KEY = "local"  # moto accepts any key; these are not secrets
LOCAL_SECRET_KEY = "local"  # noqa: S105
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=30)


class ProvisionError(RuntimeError):
    """A resource could not be created as the template describes it."""


def aws_client(service: str, context: LocalContext) -> Any:
    """A boto3 client for moto server; explicit endpoint, as Streams 404s without one on botocore 1.44+.

    Clients are shared per endpoint (boto3 clients are thread-safe; creating one costs tens of ms).
    """
    return _client(service, context.aws_endpoint, context.region)


@cache
def _client(service: str, endpoint: str, region: str) -> Any:
    session = boto3.session.Session(
        aws_access_key_id=LOCAL_ACCESS_KEY, aws_secret_access_key=LOCAL_SECRET_KEY, region_name=region
    )
    return session.client(service, endpoint_url=endpoint, config=_CLIENT_CONFIG)


@dataclass(frozen=True)
class Provisioned:
    """What only exists once the resources do: stream ARNs carry a creation timestamp."""

    stream_arns: Mapping[str, str]  # table logical id -> latest stream ARN


def provision(description: StackDescription, secrets: Mapping[str, str] | None = None) -> Provisioned:
    """Create queues (dead-letter targets first), tables, buckets with notifications, then secrets."""
    context = description.context
    sqs = aws_client("sqs", context)
    for queue in _dead_letter_targets_first(description.queues):
        _create_queue(sqs, queue, description)
    dynamodb = aws_client("dynamodb", context)
    stream_arns = {}
    for table in description.tables.values():
        stream_arn = _create_table(dynamodb, table)
        if stream_arn is not None:
            stream_arns[table.logical_id] = stream_arn
    s3 = aws_client("s3", context)
    for bucket in description.buckets.values():
        _create_bucket(s3, bucket, description)
    if secrets:
        secretsmanager = aws_client("secretsmanager", context)
        for name, value in secrets.items():
            _put_secret(secretsmanager, name, value)
    return Provisioned(stream_arns=stream_arns)


def _dead_letter_targets_first(queues: Mapping[str, QueueSpec]) -> list[QueueSpec]:
    ordered: list[QueueSpec] = []
    placed: set[str] = set()

    def place(queue: QueueSpec, path: tuple[str, ...]) -> None:
        if queue.logical_id in placed:
            return
        if queue.logical_id in path:
            raise ProvisionError(f"redrive policies form a cycle through {queue.logical_id}")
        target = queue.dead_letter_queue
        if target is not None:
            if target not in queues:
                raise ProvisionError(f"{queue.logical_id} dead-letters to {target}, which is not a queue")
            place(queues[target], (*path, queue.logical_id))
        ordered.append(queue)
        placed.add(queue.logical_id)

    for queue in queues.values():
        place(queue, ())
    return ordered


def _create_queue(sqs: Any, queue: QueueSpec, description: StackDescription) -> None:
    attributes = dict(queue.attributes)
    if queue.dead_letter_queue is not None:
        target = description.queues[queue.dead_letter_queue]
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": target.arn, "maxReceiveCount": queue.max_receive_count}
        )
    url = sqs.create_queue(QueueName=queue.name, Attributes=attributes)["QueueUrl"]
    if url != queue.url:
        raise ProvisionError(f"{queue.logical_id} was created at {url}, not at the derived {queue.url}")


def _create_table(dynamodb: Any, table: TableSpec) -> str | None:
    request: dict[str, Any] = {
        "TableName": table.name,
        "KeySchema": [{"AttributeName": name, "KeyType": key_type} for name, key_type in table.key_schema],
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": attribute_type}
            for name, attribute_type in table.attribute_types
        ],
        "BillingMode": table.billing_mode,
    }
    if table.billing_mode != "PAY_PER_REQUEST":
        request["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    if table.global_secondary_indexes:
        request["GlobalSecondaryIndexes"] = [dict(index) for index in table.global_secondary_indexes]
    if table.stream_view_type is not None:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": table.stream_view_type}
    dynamodb.create_table(**request)
    dynamodb.get_waiter("table_exists").wait(
        TableName=table.name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
    )
    if table.ttl_attribute is not None:
        dynamodb.update_time_to_live(
            TableName=table.name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
        )
    if table.stream_view_type is None:
        return None
    return str(dynamodb.describe_table(TableName=table.name)["Table"]["LatestStreamArn"])


def _create_bucket(s3: Any, bucket: BucketSpec, description: StackDescription) -> None:
    request: dict[str, Any] = {"Bucket": bucket.name}
    if description.context.region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": description.context.region}
    s3.create_bucket(**request)
    if bucket.versioned:
        s3.put_bucket_versioning(Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"})
    if not bucket.notifications:
        return
    configurations = []
    for index, notification in enumerate(bucket.notifications):
        rules = [
            {"Name": name, "Value": value}
            for name, value in (("prefix", notification.prefix), ("suffix", notification.suffix))
            if value is not None
        ]
        configuration: dict[str, Any] = {
            "Id": f"{bucket.logical_id}-{notification.queue}-{index}",
            "QueueArn": description.queues[notification.queue].arn,
            "Events": list(notification.events),
        }
        if rules:
            configuration["Filter"] = {"Key": {"FilterRules": rules}}
        configurations.append(configuration)
    s3.put_bucket_notification_configuration(
        Bucket=bucket.name, NotificationConfiguration={"QueueConfigurations": configurations}
    )


def _put_secret(secretsmanager: Any, name: str, value: str) -> None:
    try:
        secretsmanager.create_secret(Name=name, SecretString=value)
    except secretsmanager.exceptions.ResourceExistsException:
        secretsmanager.put_secret_value(SecretId=name, SecretString=value)
