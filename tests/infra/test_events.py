"""The sample events in events/ are shaped exactly as AWS delivers them to each function, and the
env-vars file and samconfig.toml only name things the template declares.

The handler tests invoke the handlers with these very files, so a wrong shape here would hide a bug there.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from decimal import Decimal
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    DynamoDBStreamModel,
    EventBridgeModel,
    S3Model,
    SqsModel,
)
from boto3.dynamodb.types import TypeDeserializer

from cio_sync.customerio.reporting import event_from_message
from cio_sync.pipeline.messages import TRACK_LANES, lane_of
from cio_sync_local.stack import DEFAULT_STACK_NAME
from tests.infra.cfn import (
    REPO,
    SAMPLE_ACCOUNT,
    SAMPLE_REGION,
    Template,
    canonical,
    event_source_mapping,
    physical_name,
    properties,
    resources,
)

pytestmark = [pytest.mark.infra, pytest.mark.timeout(1800)]

EVENTS = REPO / "events"
EVENT_FILES = {
    "MemberStreamFunction": "member_stream.json",
    "TrackFunction": "track.json",
    "EmailFunction": "email.json",
    "ImportFileFunction": "import_file.json",
    "ImportChunkFunction": "import_chunk.json",
    "ProfileSweepFunction": "profile_sweep.json",
    "ReportingWebhookFunction": "reporting_webhook.json",
    "ConsentFunction": "consent.json",
}
SQS_FUNCTIONS = sorted(
    set(EVENT_FILES) - {"MemberStreamFunction", "ProfileSweepFunction", "ReportingWebhookFunction"}
)
STREAM_RECORD_KEYS = {
    "eventID",
    "eventName",
    "eventVersion",
    "eventSource",
    "awsRegion",
    "dynamodb",
    "eventSourceARN",
}
SQS_RECORD_KEYS = {
    "messageId",
    "receiptHandle",
    "body",
    "attributes",
    "messageAttributes",
    "md5OfBody",
    "eventSource",
    "eventSourceARN",
    "awsRegion",
}
SQS_ATTRIBUTES = {"ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"}
FIFO_ATTRIBUTES = {"MessageGroupId", "MessageDeduplicationId", "SequenceNumber"}
MEMBER_ID = re.compile(r"[0-9a-f]{24}")


def _event(function: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / EVENT_FILES[function]).read_text(encoding="utf-8"))
    return event


def _bodies(function: str) -> list[Any]:
    return [json.loads(record["body"]) for record in _event(function)["Records"]]


def _queue_of(template: Template, function: str) -> str:
    return canonical(event_source_mapping(template, function)["EventSourceArn"]).removesuffix(".Arn")


def test_one_event_file_per_function(transformed: Template) -> None:
    assert set(EVENT_FILES) == set(resources(transformed, "AWS::Lambda::Function"))
    assert {path.name for path in EVENTS.glob("*.json")} == {*EVENT_FILES.values(), "env.local.json"}


def test_stream_event_is_a_dynamodb_stream_batch(transformed: Template) -> None:
    event = _event("MemberStreamFunction")
    DynamoDBStreamModel.model_validate(event)
    records = event["Records"]
    assert 0 < len(records) <= event_source_mapping(transformed, "MemberStreamFunction")["BatchSize"]
    table = physical_name(transformed, "MemberTable", "TableName")
    stream_arn = re.compile(
        rf"arn:aws:dynamodb:{SAMPLE_REGION}:{SAMPLE_ACCOUNT}:table/{table}/stream/[0-9T:.-]+"
    )
    deserialise = TypeDeserializer().deserialize
    for record in records:
        assert set(record) == STREAM_RECORD_KEYS
        assert record["eventSource"] == "aws:dynamodb"
        assert stream_arn.fullmatch(record["eventSourceARN"])
        change = record["dynamodb"]
        assert change["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert ("NewImage" in change) == (record["eventName"] != "REMOVE")
        assert ("OldImage" in change) == (record["eventName"] != "INSERT")
        for image in (change.get("NewImage"), change.get("OldImage")):
            if image is not None:
                item = {name: deserialise(value) for name, value in image.items()}
                assert item["id"] == deserialise(change["Keys"]["id"])
                assert MEMBER_ID.fullmatch(item["id"])
                assert not any(isinstance(value, float | Decimal) for value in item.values())
    assert {record["eventName"] for record in records} == {"INSERT", "MODIFY", "REMOVE"}
    sequence_numbers = [int(record["dynamodb"]["SequenceNumber"]) for record in records]
    assert sequence_numbers == sorted(sequence_numbers)


@pytest.mark.parametrize("function", SQS_FUNCTIONS)
def test_sqs_event_is_a_batch_from_the_functions_queue(transformed: Template, function: str) -> None:
    event = _event(function)
    SqsModel.model_validate(event)
    queue = _queue_of(transformed, function)
    queue_name = physical_name(transformed, queue, "QueueName")
    fifo = bool(properties(transformed, queue).get("FifoQueue"))
    records = event["Records"]
    assert 0 < len(records) <= event_source_mapping(transformed, function)["BatchSize"]
    assert len({record["messageId"] for record in records}) == len(records)
    for record in records:
        assert set(record) == SQS_RECORD_KEYS
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"] == f"arn:aws:sqs:{SAMPLE_REGION}:{SAMPLE_ACCOUNT}:{queue_name}"
        assert record["md5OfBody"] == hashlib.md5(record["body"].encode(), usedforsecurity=False).hexdigest()
        attributes = set(record["attributes"])
        assert attributes == SQS_ATTRIBUTES | (FIFO_ATTRIBUTES if fifo else set())


def test_sweep_event_is_the_schedules_scheduled_event(transformed: Template) -> None:
    event = _event("ProfileSweepFunction")
    EventBridgeModel.model_validate(event)
    assert event["source"] == "aws.events"
    assert event["detail-type"] == "Scheduled Event"
    assert (event["account"], event["region"]) == (SAMPLE_ACCOUNT, SAMPLE_REGION)
    (rule_arn,) = event["resources"]
    (rule,) = [
        logical_id
        for logical_id, rule in resources(transformed, "AWS::Events::Rule").items()
        if [canonical(t["Arn"]) for t in rule["Properties"]["Targets"]] == ["ProfileSweepFunction.Arn"]
    ]
    # CloudFormation names a rule <stack>-<logical id>-<random>.
    assert re.fullmatch(
        rf"arn:aws:events:{SAMPLE_REGION}:{SAMPLE_ACCOUNT}:rule/cio-sync-dev-{rule}-\w+", rule_arn
    )
    assert "start" not in event  # a schedule's event never carries a cursor


def test_reporting_webhook_event_is_a_function_url_call() -> None:
    """Payload format 2.0: lowercased headers, the raw body the signature covers, a POST."""
    event = _event("ReportingWebhookFunction")
    assert event["version"] == "2.0"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert all(name == name.lower() for name in event["headers"])
    assert {"x-cio-timestamp", "x-cio-signature"} <= set(event["headers"])
    assert event["isBase64Encoded"] is False


def test_consent_messages_are_reporting_events_in_their_members_lane() -> None:
    for record, body in zip(_event("ConsentFunction")["Records"], _bodies("ConsentFunction"), strict=True):
        event = event_from_message(record["body"])
        assert event.handled
        assert record["attributes"]["MessageGroupId"] == lane_of(body["customer_id"], TRACK_LANES)
        assert record["attributes"]["MessageDeduplicationId"] == event.event_id


def test_track_messages_carry_sync_intents() -> None:
    intents: list[dict[str, Any]] = []
    for body in _bodies("TrackFunction"):
        intents += body["intents"] if body["type"] == "intent_batch" else [body]
    assert {intent["type"] for intent in intents} >= {"sync_profile"}
    for intent in intents:
        assert intent["version"] == 1
        assert MEMBER_ID.fullmatch(intent["member_id"])
        assert intent["intent_id"]


def test_email_messages_are_send_email_intents() -> None:
    for body in _bodies("EmailFunction"):
        assert body["type"] == "send_email"
        assert body["version"] == 1
        assert body["kind"] in {"forgot_password", "password_updated"}
        assert MEMBER_ID.fullmatch(body["member_id"])
        assert isinstance(body["data"], dict)


def test_import_file_messages_are_s3_notifications_for_uploads(transformed: Template) -> None:
    bucket = physical_name(transformed, "ImportBucket", "BucketName")
    for body in _bodies("ImportFileFunction"):
        notification = S3Model.model_validate(body)
        for record in notification.Records:
            assert record.eventName.startswith("ObjectCreated:")
            assert record.s3.bucket.name == bucket
            assert record.s3.object is not None
            assert record.s3.object.key.startswith("mute-promotions/")


def test_import_chunk_messages_name_their_rows() -> None:
    event = _event("ImportChunkFunction")
    for record, body in zip(event["Records"], _bodies("ImportChunkFunction"), strict=True):
        assert set(body) == {"import_id", "chunk", "partition", "rows", "mute_at", "dry_run"}
        assert all(isinstance(line, int) and MEMBER_ID.fullmatch(member) for line, member in body["rows"])
        assert record["attributes"]["MessageGroupId"] == f"{body['import_id']}-{body['partition']}"
        assert record["attributes"]["MessageDeduplicationId"] == f"{body['import_id']}-{body['chunk']}"


def _local_environment() -> dict[str, str]:
    env_file: dict[str, dict[str, str]] = json.loads((EVENTS / "env.local.json").read_text(encoding="utf-8"))
    assert set(env_file) == {"Parameters"}, "one block applies to every function"
    return env_file["Parameters"]


def test_env_vars_file_overrides_only_declared_variables(transformed: Template) -> None:
    """`sam local invoke --env-vars` silently ignores variables the template does not declare."""
    declared = {
        name
        for function in resources(transformed, "AWS::Lambda::Function")
        for name in properties(transformed, function)["Environment"]["Variables"]
    }
    assert set(_local_environment()) <= declared


def test_env_vars_file_points_every_function_at_the_local_stack(transformed: Template) -> None:
    local = _local_environment()
    local_only = {"AWS_ENDPOINT_URL", "CUSTOMER_IO_TRACK_URL", "CUSTOMER_IO_APP_URL"}
    for function in resources(transformed, "AWS::Lambda::Function"):
        variables = properties(transformed, function)["Environment"]["Variables"]
        for name, value in variables.items():
            if isinstance(value, dict) and canonical(value).removeprefix("Ref:") in transformed["Resources"]:
                assert name in local, f"{function}: {name} names a resource; give its local value"
            if name in local_only:
                assert local[name].startswith("http://127.0.0.1:"), name
    stack = DEFAULT_STACK_NAME  # what the local stack deploys as
    assert local["MEMBER_TABLE_NAME"] == physical_name(transformed, "MemberTable", "TableName", stack)
    assert local["IDEMPOTENCY_TABLE_NAME"] == physical_name(
        transformed, "IdempotencyTable", "TableName", stack
    )
    assert local["IMPORT_BUCKET"] == physical_name(transformed, "ImportBucket", "BucketName", stack)
    queues = resources(transformed, "AWS::SQS::Queue")
    for function in resources(transformed, "AWS::Lambda::Function"):
        for name, value in properties(transformed, function)["Environment"]["Variables"].items():
            queue = canonical(value).removeprefix("Ref:")
            if queue in queues:
                queue_name = physical_name(transformed, queue, "QueueName", stack)
                assert local[name] == f"{local['AWS_ENDPOINT_URL']}/{SAMPLE_ACCOUNT}/{queue_name}", name


def _overrides(deploy: dict[str, Any]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in deploy["parameter_overrides"].split())


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_samconfig_deploys_each_environment(transformed: Template, environment: str) -> None:
    config = tomllib.loads((REPO / "samconfig.toml").read_text(encoding="utf-8"))
    deploy = config[environment]["deploy"]["parameters"]
    assert deploy["stack_name"] == f"cio-sync-{environment}"
    assert "CAPABILITY_IAM" in deploy["capabilities"]
    overrides = _overrides(deploy)
    assert overrides["Environment"] == environment
    for name, value in overrides.items():
        parameter = transformed["Parameters"][name]
        assert value in parameter.get("AllowedValues", [value]), f"{environment}: {name}={value}"
    # A template_file setting would make `sam deploy` ship the unbuilt template.
    assert "template_file" not in json.dumps(config)
    assert "deploy" not in config.get("default", {}), "deploys must name their environment"
