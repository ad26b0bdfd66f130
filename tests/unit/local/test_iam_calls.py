"""Which IAM authorisations an AWS call needs: actions, resource ARNs and condition keys, per service."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cio_sync_local.iam_calls import StackResources, access_requests, queue_arn
from cio_sync_local.iam_policy import AccessRequest, Decision, evaluate
from cio_sync_local.sam import load_template

pytestmark = pytest.mark.unit

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:cio-sync/customer-io-AbC123"
RESOURCES = StackResources(
    region="us-east-1",
    account_id="123456789012",
    partition_keys={"members": "id", "idempotency": "id"},
    secrets={"cio-sync/customer-io": SECRET_ARN},
)
MEMBERS = "arn:aws:dynamodb:us-east-1:123456789012:table/members"
IDEMPOTENCY = "arn:aws:dynamodb:us-east-1:123456789012:table/idempotency"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/cio-sync-dev-track.fifo"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:cio-sync-dev-track.fifo"


def test_dynamodb_item_calls_name_the_table_and_the_leading_key() -> None:
    (request,) = access_requests(
        "dynamodb",
        "UpdateItem",
        {"TableName": "members", "Key": {"id": {"S": "m1"}}, "ReturnValues": "ALL_NEW"},
        RESOURCES,
    )
    assert request == AccessRequest(
        "dynamodb:UpdateItem",
        MEMBERS,
        {
            "dynamodb:LeadingKeys": ["m1"],
            "dynamodb:Attributes": ["id"],
            "dynamodb:ReturnValues": "ALL_NEW",
        },
    )


def test_a_batch_needs_its_action_on_every_table_with_every_key() -> None:
    params = {
        "RequestItems": {
            "members": {"Keys": [{"id": {"S": "a"}}, {"id": {"S": "b"}}], "ConsistentRead": True},
            "idempotency": {"Keys": [{"id": {"S": "rules#a"}}]},
        }
    }
    assert access_requests("dynamodb", "BatchGetItem", params, RESOURCES) == [
        AccessRequest("dynamodb:BatchGetItem", MEMBERS, {"dynamodb:LeadingKeys": ["a", "b"]}),
        AccessRequest("dynamodb:BatchGetItem", IDEMPOTENCY, {"dynamodb:LeadingKeys": ["rules#a"]}),
    ]
    writes = {
        "RequestItems": {
            "idempotency": [
                {"PutRequest": {"Item": {"id": {"S": "rules#a"}, "x": {"N": "1"}}}},
                {"DeleteRequest": {"Key": {"id": {"S": "rules#b"}}}},
            ]
        }
    }
    assert access_requests("dynamodb", "BatchWriteItem", writes, RESOURCES) == [
        AccessRequest(
            "dynamodb:BatchWriteItem", IDEMPOTENCY, {"dynamodb:LeadingKeys": ["rules#a", "rules#b"]}
        )
    ]


def test_a_transaction_is_authorised_item_by_item_with_each_items_own_action() -> None:
    params = {
        "TransactItems": [
            {
                "Update": {
                    "TableName": "members",
                    "Key": {"id": {"S": "m1"}},
                    "UpdateExpression": "SET a = :a",
                }
            },
            {"Put": {"TableName": "idempotency", "Item": {"id": {"S": "claim#1"}}}},
            {"ConditionCheck": {"TableName": "members", "Key": {"id": {"S": "m2"}}}},
        ]
    }
    assert [
        (r.action, r.resource) for r in access_requests("dynamodb", "TransactWriteItems", params, RESOURCES)
    ] == [
        ("dynamodb:UpdateItem", MEMBERS),
        ("dynamodb:PutItem", IDEMPOTENCY),
        ("dynamodb:ConditionCheckItem", MEMBERS),
    ]


def test_dynamodb_indexes_streams_and_table_arns() -> None:
    (query,) = access_requests(
        "dynamodb", "Query", {"TableName": "members", "IndexName": "by-email"}, RESOURCES
    )
    assert query.resource == f"{MEMBERS}/index/by-email"
    (by_arn,) = access_requests(
        "dynamodb", "GetItem", {"TableName": MEMBERS, "Key": {"id": {"S": "x"}}}, RESOURCES
    )
    assert by_arn.resource == MEMBERS
    assert by_arn.context == {"dynamodb:LeadingKeys": ["x"], "dynamodb:Attributes": ["id"]}
    stream = f"{MEMBERS}/stream/2026-01-01T00:00:00.000"
    (describe,) = access_requests("dynamodbstreams", "DescribeStream", {"StreamArn": stream}, RESOURCES)
    assert describe == AccessRequest("dynamodb:DescribeStream", stream)


def test_sqs_calls_name_the_queue_from_its_url_and_batches_need_the_single_action() -> None:
    assert queue_arn("http://127.0.0.1:5000/123456789012/cio-sync-dev-track.fifo", RESOURCES) == QUEUE_ARN
    assert access_requests("sqs", "SendMessageBatch", {"QueueUrl": QUEUE_URL, "Entries": []}, RESOURCES) == [
        AccessRequest("sqs:SendMessage", QUEUE_ARN)
    ]
    assert access_requests("sqs", "ChangeMessageVisibility", {"QueueUrl": QUEUE_URL}, RESOURCES) == [
        AccessRequest("sqs:ChangeMessageVisibility", QUEUE_ARN)
    ]
    assert access_requests("sqs", "GetQueueUrl", {"QueueName": "cio-sync-dev-track.fifo"}, RESOURCES) == [
        AccessRequest("sqs:GetQueueUrl", QUEUE_ARN)
    ]


def test_a_queue_encrypted_with_a_key_of_ours_needs_the_key_to_send_and_to_receive() -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    resources = StackResources(region="us-east-1", account_id="123456789012", queue_keys={QUEUE_ARN: key})
    assert access_requests("sqs", "SendMessageBatch", {"QueueUrl": QUEUE_URL}, resources) == [
        AccessRequest("sqs:SendMessage", QUEUE_ARN),
        AccessRequest("kms:GenerateDataKey", key),
    ]
    assert access_requests("sqs", "ReceiveMessage", {"QueueUrl": QUEUE_URL}, resources) == [
        AccessRequest("sqs:ReceiveMessage", QUEUE_ARN),
        AccessRequest("kms:Decrypt", key),
    ]
    assert access_requests("sqs", "DeleteMessage", {"QueueUrl": QUEUE_URL}, resources) == [
        AccessRequest("sqs:DeleteMessage", QUEUE_ARN)
    ]


def test_s3_objects_versions_and_listing() -> None:
    bucket = "arn:aws:s3:::imports"
    get = access_requests("s3", "GetObject", {"Bucket": "imports", "Key": "mute-promotions/a.csv"}, RESOURCES)
    assert get == [AccessRequest("s3:GetObject", f"{bucket}/mute-promotions/a.csv")]
    versioned = access_requests(
        "s3", "GetObject", {"Bucket": "imports", "Key": "k", "VersionId": "v1"}, RESOURCES
    )
    assert versioned == [AccessRequest("s3:GetObjectVersion", f"{bucket}/k")]
    head = access_requests("s3", "HeadObject", {"Bucket": "imports", "Key": "k"}, RESOURCES)
    assert head == [AccessRequest("s3:GetObject", f"{bucket}/k")]
    listing = access_requests("s3", "ListObjectsV2", {"Bucket": "imports", "Prefix": "reports/x/"}, RESOURCES)
    assert listing == [AccessRequest("s3:ListBucket", bucket, {"s3:prefix": "reports/x/"})]
    copy = access_requests(
        "s3",
        "CopyObject",
        {"Bucket": "imports", "Key": "b", "CopySource": {"Bucket": "imports", "Key": "a"}},
        RESOURCES,
    )
    assert copy == [
        AccessRequest("s3:GetObject", f"{bucket}/a"),
        AccessRequest("s3:PutObject", f"{bucket}/b"),
    ]


def test_secrets_are_authorised_against_their_full_arn_however_named() -> None:
    full = RESOURCES.secrets["cio-sync/customer-io"]
    by_name = access_requests(
        "secretsmanager", "GetSecretValue", {"SecretId": "cio-sync/customer-io"}, RESOURCES
    )
    assert by_name == [AccessRequest("secretsmanager:GetSecretValue", full)]
    by_arn = access_requests("secretsmanager", "GetSecretValue", {"SecretId": full}, RESOURCES)
    assert by_arn == by_name


def test_other_services_need_their_action_on_everything_and_some_calls_need_nothing() -> None:
    assert access_requests("cloudwatch", "PutMetricData", {}, RESOURCES) == [
        AccessRequest("cloudwatch:PutMetricData", "*")
    ]
    assert access_requests("sts", "GetCallerIdentity", {}, RESOURCES) == []


def _rule_write_back_grant() -> dict[str, Any]:
    """template.yaml's member-stream statement that limits its UpdateItem to the rules' attributes."""
    role = load_template()["Resources"]["MemberStreamRole"]["Properties"]["Policies"][0]
    (statement,) = [
        item for item in role["PolicyDocument"]["Statement"] if item["Sid"] == "WriteRuleDecisions"
    ]
    assert "dynamodb:Attributes" in json.dumps(statement["Condition"])
    return {"Version": "2012-10-17", "Statement": [{**statement, "Resource": MEMBERS}]}


def _update(expression: str, names: dict[str, str], condition: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "TableName": "members",
        "Key": {"id": {"S": "m1"}},
        "UpdateExpression": expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": {":0": {"S": "x"}, ":1": {"S": "y"}},
        "ReturnValues": "NONE",
    }
    if condition is not None:
        params["ConditionExpression"] = condition
    return params


def test_update_item_names_every_attribute_it_writes_or_conditions_on() -> None:
    """`dynamodb:Attributes`, so a grant limited to the rules' attributes is enforced, not vacuous."""
    policies = [_rule_write_back_grant()]
    write_back = _update(
        "SET #0 = :0, #1 = :1",
        {"#0": "updated_at", "#1": "promotions_muted_at", "#2": "email_subscription_status"},
        "attribute_exists (id) AND #2 = :0 AND #0 = :1",
    )
    (allowed,) = access_requests("dynamodb", "UpdateItem", write_back, RESOURCES)
    assert allowed.context["dynamodb:Attributes"] == [
        "email_subscription_status",
        "id",
        "promotions_muted_at",
        "updated_at",
    ]
    assert evaluate(policies, allowed) is Decision.ALLOWED
    for expression, names in (
        ("SET #0 = :0", {"#0": "email"}),
        ("SET #0 = :0, email = :1", {"#0": "updated_at"}),
        ("SET #0.city = :0", {"#0": "address"}),
        ("REMOVE first_name", {}),
    ):
        (request,) = access_requests("dynamodb", "UpdateItem", _update(expression, names), RESOURCES)
        assert evaluate(policies, request) is Decision.IMPLICIT_DENY, expression
