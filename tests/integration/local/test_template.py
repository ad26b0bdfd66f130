"""The local stack is derived from template.yaml: every derived setting is checked against the raw template.

The checks read the raw YAML themselves and compare generically (no values retyped here), so they keep
holding as the template changes; the fixed contract (logical ids, handlers) is asserted by name.
"""

from __future__ import annotations

from typing import Any

import pytest

from cio_sync_local.template import (
    LocalContext,
    StackDescription,
    TemplateError,
    describe,
    load_template,
    parse_template,
)

pytestmark = pytest.mark.integration

ENDPOINT = "http://127.0.0.1:5999"
CONTEXT = LocalContext(aws_endpoint=ENDPOINT)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def derived(raw: dict[str, Any]) -> StackDescription:
    return describe(raw, CONTEXT)


def _resources(raw: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource for name, resource in raw["Resources"].items() if resource["Type"] == resource_type
    }


def _default(raw: dict[str, Any], value: Any) -> Any:
    """A literal, or the default of the parameter a `!Ref` names (what the local stack runs with)."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return raw["Parameters"][value["Ref"]]["Default"]
    return value


def _named(raw: dict[str, Any], value: Any) -> str:
    """`!Sub cio-sync-${Environment}-x` -> its local value, by plain substitution of the defaults."""
    text = value["Fn::Sub"]
    for name, parameter in raw["Parameters"].items():
        text = text.replace("${" + name + "}", str(parameter.get("Default", "")))
    return str(
        text.replace("${AWS::AccountId}", CONTEXT.account_id)
        .replace("${AWS::Region}", CONTEXT.region)
        .replace("${AWS::StackName}", CONTEXT.stack_name)
    )


def _target(value: Any) -> str:
    return str(value["Fn::GetAtt"][0])


def test_the_fixed_logical_ids_exist_with_their_handlers(derived: StackDescription) -> None:
    assert {"MemberTable", "IdempotencyTable"} <= set(derived.tables)
    assert {
        "TrackQueue",
        "TrackDeadLetterQueue",
        "EmailQueue",
        "EmailDeadLetterQueue",
        "ImportFileQueue",
        "ImportFileDeadLetterQueue",
        "ImportChunkQueue",
        "ImportChunkDeadLetterQueue",
        "StreamFailureQueue",
    } <= set(derived.queues)
    assert "ImportBucket" in derived.buckets
    handlers = {name: function.handler for name, function in derived.functions.items()}
    assert handlers == {
        "MemberStreamFunction": "cio_sync.handlers.member_stream.handler",
        "TrackFunction": "cio_sync.handlers.track.handler",
        "EmailFunction": "cio_sync.handlers.email.handler",
        "ImportFileFunction": "cio_sync.handlers.import_file.handler",
        "ImportChunkFunction": "cio_sync.handlers.import_chunk.handler",
    }
    sources = {(m.function, m.kind, m.source) for m in derived.mappings}
    assert sources == {
        ("MemberStreamFunction", "dynamodb", "MemberTable"),
        ("TrackFunction", "sqs", "TrackQueue"),
        ("EmailFunction", "sqs", "EmailQueue"),
        ("ImportFileFunction", "sqs", "ImportFileQueue"),
        ("ImportChunkFunction", "sqs", "ImportChunkQueue"),
    }
    assert derived.queues["TrackQueue"].fifo
    assert derived.queues["ImportChunkQueue"].fifo


def test_tables_match_the_template(raw: dict[str, Any], derived: StackDescription) -> None:
    for logical_id, resource in _resources(raw, "AWS::DynamoDB::Table").items():
        properties, table = resource["Properties"], derived.tables[logical_id]
        assert table.name == _named(raw, properties["TableName"])
        assert list(table.key_schema) == [
            (key["AttributeName"], key["KeyType"]) for key in properties["KeySchema"]
        ]
        assert table.billing_mode == properties["BillingMode"]
        assert table.stream_view_type == (properties.get("StreamSpecification") or {}).get("StreamViewType")
        assert table.ttl_attribute == (properties.get("TimeToLiveSpecification") or {}).get("AttributeName")


def test_queues_match_the_template(raw: dict[str, Any], derived: StackDescription) -> None:
    queues = _resources(raw, "AWS::SQS::Queue")
    assert set(queues) == set(derived.queues)
    for logical_id, resource in queues.items():
        properties, queue = resource["Properties"], derived.queues[logical_id]
        assert queue.name == _named(raw, properties["QueueName"])
        assert queue.url == f"{ENDPOINT}/{CONTEXT.account_id}/{queue.name}"
        assert queue.fifo == bool(properties.get("FifoQueue", False))
        assert queue.name.endswith(".fifo") == queue.fifo
        assert queue.visibility_timeout_s == int(properties.get("VisibilityTimeout", 30))
        redrive = properties.get("RedrivePolicy")
        if redrive is None:
            assert (queue.dead_letter_queue, queue.max_receive_count) == (None, None)
        else:
            assert queue.dead_letter_queue == _target(redrive["deadLetterTargetArn"])
            assert queue.max_receive_count == int(redrive["maxReceiveCount"])
            assert derived.queues[queue.dead_letter_queue].fifo == queue.fifo
        for attribute in ("MessageRetentionPeriod", "ContentBasedDeduplication", "DeduplicationScope"):
            if attribute in properties:
                value = properties[attribute]
                if isinstance(value, dict) and set(value) == {"Ref"}:  # a parameter: its default locally
                    value = raw["Parameters"][value["Ref"]]["Default"]
                assert queue.attributes[attribute] == (
                    str(value).lower() if isinstance(value, bool) else str(value)
                )


def test_functions_and_their_mappings_match_the_template(
    raw: dict[str, Any], derived: StackDescription
) -> None:
    globals_ = raw["Globals"]["Function"]
    for logical_id, resource in _resources(raw, "AWS::Serverless::Function").items():
        properties, function = resource["Properties"], derived.functions[logical_id]
        assert function.name == _named(raw, properties["FunctionName"])
        assert function.timeout_s == int(properties.get("Timeout", globals_.get("Timeout", 3)))
        variables = {**globals_["Environment"]["Variables"], **properties["Environment"]["Variables"]}
        assert set(function.environment) == set(variables)
        for name, value in variables.items():
            if isinstance(value, dict) and "Ref" in value and value["Ref"] in raw["Parameters"]:
                assert function.environment[name] == str(_default(raw, value))
        events = properties.get("Events") or {}
        assert {mapping.name for mapping in function.mappings} == set(events)
        for mapping in function.mappings:
            settings = events[mapping.name]["Properties"]
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
            assert mapping.maximum_concurrency == (int(_default(raw, concurrency)) if concurrency else None)
            assert mapping.source == _target(settings.get("Stream") or settings["Queue"])


def test_queue_urls_and_table_names_in_the_environment_point_at_the_derived_resources(
    derived: StackDescription,
) -> None:
    environment = derived.environment()
    urls = {queue.url for queue in derived.queues.values()}
    for name, value in environment.items():
        if name.endswith("_QUEUE_URL"):
            assert value in urls, name
    assert environment["MEMBER_TABLE_NAME"] == derived.tables["MemberTable"].name


def test_bucket_notifications_match_the_template(raw: dict[str, Any], derived: StackDescription) -> None:
    for logical_id, resource in _resources(raw, "AWS::S3::Bucket").items():
        properties, bucket = resource["Properties"], derived.buckets[logical_id]
        assert bucket.name == _named(raw, properties["BucketName"])
        assert bucket.versioned == (
            (properties.get("VersioningConfiguration") or {}).get("Status") == "Enabled"
        )
        declared = properties.get("NotificationConfiguration", {}).get("QueueConfigurations", [])
        assert len(bucket.notifications) == len(declared)
        for notification, item in zip(bucket.notifications, declared, strict=True):
            rules = {rule["Name"]: rule["Value"] for rule in item["Filter"]["S3Key"]["Rules"]}
            assert notification.queue == _target(item["Queue"])
            assert notification.events == (item["Event"],)
            assert notification.prefix == rules.get("prefix")


def test_parameter_overrides_flow_into_names_and_environment(raw: dict[str, Any]) -> None:
    description = describe(raw, CONTEXT, {"Environment": "prod", "CustomerIoEnabled": "true"})
    assert description.tables["MemberTable"].name.startswith("cio-sync-prod-")
    assert description.environment()["CUSTOMER_IO_ENABLED"] == "true"


def test_parameters_are_checked(raw: dict[str, Any]) -> None:
    with pytest.raises(TemplateError, match="NoSuchParameter"):
        describe(raw, CONTEXT, {"NoSuchParameter": "x"})
    with pytest.raises(TemplateError, match="Environment must be one of"):
        describe(raw, CONTEXT, {"Environment": "staging"})


EVALUATOR_TEMPLATE = """
Parameters:
  Stage: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Lanes: {Type: Number, Default: 8}
  Required: {Type: String}
Mappings:
  Sizes:
    dev: {Memory: 256}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  IsDev: !Not [!Condition IsProd]
  Both: !And [!Condition IsDev, !Or [!Equals [a, b], !Equals [!Ref Lanes, "8"]]]
Globals:
  Function:
    Timeout: 30
    Environment:
      Variables:
        SHARED: shared
Resources:
  Unnamed:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
  OnlyInProd:
    Type: AWS::SQS::Queue
    Condition: IsProd
  Bucket:
    Type: AWS::S3::Bucket
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Handler: pkg.module.handler
      MemorySize: !FindInMap [Sizes, !Ref Stage, Memory]
      Environment:
        Variables:
          QUEUE_NAME: !GetAtt Unnamed.QueueName
          QUEUE_URL: !Ref Unnamed
          JOINED: !Join ["-", [a, !Ref Lanes, !Select [1, !Split [",", "x,y,z"]]]]
          SUBBED: !Sub ["${Prefix}/${AWS::Region}/${!Literal}/${Bucket}", {Prefix: !Ref Required}]
          PROD_ONLY: !If [IsProd, yes, !Ref AWS::NoValue]
          BOTH: !If [Both, "on", "off"]
          ARN: !Sub "${Unnamed.Arn}"
  Mapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      FunctionName: !Ref Worker
      EventSourceArn: !GetAtt Unnamed.Arn
      BatchSize: 3
"""


def test_intrinsic_functions_conditions_and_default_names() -> None:
    description = describe(parse_template(EVALUATOR_TEMPLATE), CONTEXT, {"Required": "req"})
    queue = description.queues["Unnamed"]
    assert queue.name == "cio-sync-local-Unnamed.fifo"
    assert "OnlyInProd" not in description.queues
    assert description.buckets["Bucket"].name == "cio-sync-local-bucket"
    worker = description.functions["Worker"]
    assert (worker.memory_mb, worker.timeout_s) == (256, 30)
    assert dict(worker.environment) == {
        "SHARED": "shared",
        "QUEUE_NAME": queue.name,
        "QUEUE_URL": queue.url,
        "JOINED": "a-8-y",
        "SUBBED": "req/us-east-1/${Literal}/cio-sync-local-bucket",
        "BOTH": "on",
        "ARN": queue.arn,
    }
    (mapping,) = worker.mappings
    assert (mapping.name, mapping.kind, mapping.source, mapping.batch_size) == (
        "Mapping",
        "sqs",
        "Unnamed",
        3,
    )


def test_a_parameter_without_default_must_be_given() -> None:
    with pytest.raises(TemplateError, match="Required has no default"):
        describe(parse_template(EVALUATOR_TEMPLATE), CONTEXT)


CONFLICTING_TEMPLATE = """
Resources:
  One:
    Type: AWS::Serverless::Function
    Properties: {Handler: a.b, Environment: {Variables: {LEVEL: INFO}}}
  Two:
    Type: AWS::Serverless::Function
    Properties: {Handler: a.c, Environment: {Variables: {LEVEL: DEBUG}}}
"""


def test_functions_that_need_different_values_of_one_variable_cannot_share_a_process() -> None:
    description = describe(parse_template(CONFLICTING_TEMPLATE), CONTEXT)
    with pytest.raises(TemplateError, match="LEVEL differs between One and Two"):
        description.environment()


UNSUPPORTED_EVENT_TEMPLATE = """
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: a.b
      Events:
        Api: {Type: Api, Properties: {Path: /, Method: get}}
"""


def test_an_event_the_pump_cannot_play_is_an_error_not_a_silent_gap() -> None:
    with pytest.raises(TemplateError, match="event type Api is not played locally"):
        describe(parse_template(UNSUPPORTED_EVENT_TEMPLATE), CONTEXT)
