"""template.yaml deployed on moto's CloudFormation and read back: what AWS would create, nothing retyped.

The checks compare what the AWS APIs answer for the deployed stack with samtranslator's own output for the
template (read generically: no value is retyped here), so they keep holding as the template changes. The
local steps (bucket versioning and notifications, TTL, the secret) and the time scale are checked by what
they change in moto server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from cio_sync_local.clients import LOCAL_ACCOUNT_ID, LOCAL_REGION, aws_client
from cio_sync_local.deploy import CODE_BUCKET, DeployError, DeployOptions, deploy, package
from cio_sync_local.description import StackContext, StackDescription
from cio_sync_local.moto_server import MotoServer

pytestmark = pytest.mark.integration

STACK = "cio-sync-test"
SECRET_VALUE = json.dumps({"site_id": "s"})


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    """A moto server of its own: the real template's names are fixed."""
    with MotoServer() as moto:
        yield moto


@pytest.fixture(scope="module")
def context(server: MotoServer) -> StackContext:
    return StackContext(server.endpoint, LOCAL_REGION, LOCAL_ACCOUNT_ID, STACK)


@pytest.fixture(scope="module")
def deployed(context: StackContext) -> StackDescription:
    options = DeployOptions(
        parameters={"CustomerIoEnabled": "true"}, secrets={"CustomerIoTrackSecretName": SECRET_VALUE}
    )
    return deploy(context, None, options)


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    """samtranslator's plain CloudFormation for template.yaml: what the stack was created from."""
    return package(None, DeployOptions(parameters={"CustomerIoEnabled": "true"})).template


def _client(context: StackContext, service: str) -> Any:
    return aws_client(service, context)


def _resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def _parameter(deployed: StackDescription, value: Any) -> Any:
    """A literal, or the deployed value of the parameter a Ref names (any other intrinsic as it is)."""
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in deployed.parameters:
        return deployed.parameters[value["Ref"]]
    return value


def _target(value: Any) -> str:
    return str(value["Fn::GetAtt"][0])


def test_the_stack_exists_with_its_outputs_and_parameters(deployed: StackDescription) -> None:
    assert deployed.parameters["CustomerIoEnabled"] == "true"
    assert deployed.parameters["Environment"] == "dev"
    assert deployed.outputs["MemberTableName"] == deployed.tables["MemberTable"].name
    assert deployed.outputs["TrackQueueUrl"] == deployed.queues["TrackQueue"].url
    assert deployed.outputs["MemberTableStreamArn"] == deployed.tables["MemberTable"].stream_arn


def test_tables_are_as_the_template_says_ttl_included(
    deployed: StackDescription, transformed: dict[str, Any]
) -> None:
    tables = _resources(transformed, "AWS::DynamoDB::Table")
    assert set(tables) == set(deployed.tables)
    for logical_id, properties in tables.items():
        table = deployed.tables[logical_id]
        assert list(table.key_schema) == [
            (key["AttributeName"], key["KeyType"]) for key in properties["KeySchema"]
        ]
        assert table.stream_view_type == (properties.get("StreamSpecification") or {}).get("StreamViewType")
        assert (table.stream_arn is not None) == (table.stream_view_type is not None)
        assert table.ttl_attribute == (properties.get("TimeToLiveSpecification") or {}).get("AttributeName")


def test_queues_are_as_the_template_says(deployed: StackDescription, transformed: dict[str, Any]) -> None:
    """Values a parameter gives (a Ref) are the deployed parameter's."""
    queues = _resources(transformed, "AWS::SQS::Queue")
    assert set(queues) == set(deployed.queues)
    for logical_id, properties in queues.items():
        queue = deployed.queues[logical_id]
        assert queue.fifo == bool(properties.get("FifoQueue", False))
        assert queue.visibility_timeout_s == int(
            _parameter(deployed, properties.get("VisibilityTimeout", 30))
        )
        assert queue.retention_s == int(
            _parameter(deployed, properties.get("MessageRetentionPeriod", 345600))
        )
        redrive = properties.get("RedrivePolicy")
        if redrive is None:
            assert (queue.dead_letter_arn, queue.max_receive_count) == (None, None)
        else:
            assert queue.dead_letter_arn == deployed.queues[_target(redrive["deadLetterTargetArn"])].arn
            assert queue.max_receive_count == int(redrive["maxReceiveCount"])
        key = properties.get("KmsMasterKeyId")
        if isinstance(key, dict) and "Ref" in key:  # a key of the stack's: its ARN, for the role checks
            assert queue.kms_key_arn is not None
            assert queue.kms_key_arn.startswith("arn:aws:kms:us-east-1:")
        else:  # none, or SQS-managed (an alias)
            assert queue.kms_key_arn is None


def test_functions_are_as_the_template_says_each_with_its_own_environment_and_role(
    deployed: StackDescription, transformed: dict[str, Any]
) -> None:
    functions = _resources(transformed, "AWS::Lambda::Function")
    assert set(functions) == set(deployed.functions)
    for logical_id, properties in functions.items():
        function = deployed.functions[logical_id]
        assert function.handler == properties["Handler"]
        assert function.timeout_s == int(properties.get("Timeout", 3))
        assert function.memory_mb == int(properties.get("MemorySize", 128))
        variables = properties["Environment"]["Variables"]
        assert set(function.environment) == set(variables)
        for name, value in variables.items():
            literal = _parameter(deployed, value)
            if not isinstance(literal, dict):
                assert function.environment[name] == str(literal)
        assert deployed.role_of(logical_id).logical_id == _target(properties["Role"])
    # Each function gets its own variables: no function sees another's queue it does not use.
    assert "TRACK_DEAD_LETTER_QUEUE_URL" not in deployed.functions["EmailFunction"].environment
    assert "IMPORT_BUCKET" not in deployed.functions["TrackFunction"].environment


def test_event_source_mappings_are_as_the_template_says(
    deployed: StackDescription, transformed: dict[str, Any]
) -> None:
    mappings = _resources(transformed, "AWS::Lambda::EventSourceMapping")
    assert {f"{mapping.function}{mapping.name}" for mapping in deployed.mappings} == set(mappings)
    for mapping in deployed.mappings:
        settings = mappings[f"{mapping.function}{mapping.name}"]
        assert mapping.function == settings["FunctionName"]["Ref"]
        assert mapping.source == _target(settings["EventSourceArn"])
        assert mapping.batch_size == settings["BatchSize"]
        assert mapping.batching_window_s == settings.get("MaximumBatchingWindowInSeconds", 0)
        assert mapping.report_batch_item_failures == (
            "ReportBatchItemFailures" in settings.get("FunctionResponseTypes", [])
        )
        assert mapping.maximum_retry_attempts == settings.get("MaximumRetryAttempts", -1)
        assert mapping.bisect_on_error == settings.get("BisectBatchOnFunctionError", False)
        assert mapping.maximum_record_age_s == settings.get("MaximumRecordAgeInSeconds", -1)
        assert mapping.starting_position == settings.get("StartingPosition")
        on_failure = (settings.get("DestinationConfig") or {}).get("OnFailure")
        assert mapping.on_failure == (_target(on_failure["Destination"]) if on_failure else None)
        concurrency = (settings.get("ScalingConfig") or {}).get("MaximumConcurrency")
        assert mapping.maximum_concurrency == (
            int(_parameter(deployed, concurrency)) if concurrency else None
        )


def test_roles_carry_the_template_policies_with_resolved_arns(deployed: StackDescription) -> None:
    track = deployed.roles["TrackRole"]
    (policy,) = track.policies
    statements = {statement["Sid"]: statement for statement in policy["Statement"]}
    assert statements["ReadMembers"]["Resource"] == deployed.tables["MemberTable"].arn
    assert "dynamodb:BatchGetItem" in statements["ReadMembers"]["Action"]
    secret = deployed.secrets[deployed.parameters["CustomerIoTrackSecretName"]]
    assert secret.startswith(statements["ReadCustomerIoSecret"]["Resource"].removesuffix("??????"))


def test_the_secret_the_template_references_exists(context: StackContext, deployed: StackDescription) -> None:
    name = deployed.parameters["CustomerIoTrackSecretName"]
    secret = _client(context, "secretsmanager").get_secret_value(SecretId=name)
    assert secret["SecretString"] == SECRET_VALUE
    assert deployed.secrets[name] == secret["ARN"]


def test_the_code_is_packaged_where_the_functions_point(
    context: StackContext, deployed: StackDescription
) -> None:
    code = _client(context, "lambda").get_function(FunctionName=deployed.functions["TrackFunction"].name)
    assert code["Configuration"]["CodeSize"] > 0
    listed = _client(context, "s3").list_objects_v2(Bucket=CODE_BUCKET)["Contents"]
    assert [item["Key"] for item in listed] == ["functions"]


def _drain_queue(context: StackContext, url: str) -> list[dict[str, Any]]:
    sqs = _client(context, "sqs")
    bodies: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_uploads_under_the_prefix_notify_the_import_queue_as_s3_does(
    context: StackContext, deployed: StackDescription
) -> None:
    bucket = deployed.buckets["ImportBucket"]
    queue = deployed.queues["ImportFileQueue"]
    s3 = _client(context, "s3")
    assert s3.get_bucket_versioning(Bucket=bucket.name)["Status"] == "Enabled"
    bodies = _drain_queue(context, queue.url)
    # S3 sends a test event each time notifications are configured (once per deploy of this module's
    # stack: another test of the module may have deployed it again first, in a shuffled order).
    assert bodies
    assert {body.get("Event") for body in bodies} == {"s3:TestEvent"}

    put = s3.put_object(Bucket=bucket.name, Key="mute-promotions/my list.csv", Body=b"northstar_id\n")
    s3.put_object(Bucket=bucket.name, Key="reports/elsewhere.json", Body=b"{}")

    (event,) = _drain_queue(context, queue.url)
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


def test_moto_leaves_the_mappings_to_the_pump(context: StackContext, deployed: StackDescription) -> None:
    """moto would receive the message itself to run the function (counting a receive); it must not."""
    sqs = _client(context, "sqs")
    url = deployed.queues["EmailQueue"].url
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    (message,) = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["ApproximateReceiveCount"])[
        "Messages"
    ]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_deploying_again_updates_the_same_stack(context: StackContext, deployed: StackDescription) -> None:
    again = deploy(context, None, DeployOptions(parameters={"CustomerIoEnabled": "true"}))
    assert again.tables["MemberTable"].stream_arn == deployed.tables["MemberTable"].stream_arn
    assert again.queues == deployed.queues


def test_a_time_scale_shortens_visibility_timeouts_and_retention() -> None:
    template = package(None, DeployOptions(time_scale=0.01)).template
    queues = _resources(template, "AWS::SQS::Queue")
    assert queues["TrackQueue"]["VisibilityTimeout"] == 4  # 360 s / 100, whole seconds
    assert queues["TrackQueue"]["MessageRetentionPeriod"] == 12096  # 14 days / 100
    assert queues["TrackDeadLetterQueue"]["VisibilityTimeout"] == 1  # 30 s / 100, at least 1 s
    fixed = package(None, DeployOptions(time_scale=0.01, visibility_timeout_s=2)).template
    assert {
        properties["VisibilityTimeout"] for properties in _resources(fixed, "AWS::SQS::Queue").values()
    } == {2}


def test_a_template_moto_cannot_create_is_one_clear_error(context: StackContext) -> None:
    other = StackContext(context.aws_endpoint, context.region, context.account_id, "cio-sync-bad")
    with pytest.raises(DeployError, match="cio-sync-bad"):
        deploy(other, None, DeployOptions(parameters={"Environment": "staging"}))
