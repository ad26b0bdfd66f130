"""template.yaml, transformed offline by samtranslator: every setting the issue and AWS's advice ask for.

cfn-lint no longer checks SAM event-source settings, so these tests read the generated event source
mappings, roles, queues and alarms directly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from cio_sync.adapters.customerio.credentials import APP_FIELDS, TRACK_FIELDS
from cio_sync.handlers.consent_runtime import ConsentSettings
from cio_sync.handlers.customerio_settings import ApiSettings
from cio_sync.handlers.email_runtime import EmailSettings
from cio_sync.handlers.import_chunk_runtime import ImportChunkSettings
from cio_sync.handlers.import_file_runtime import ImportFileSettings
from cio_sync.handlers.member_stream_runtime import MemberStreamSettings
from cio_sync.handlers.profile_sweep_runtime import ProfileSweepSettings
from cio_sync.handlers.reporting_webhook_runtime import ReportingWebhookSettings
from cio_sync.handlers.track_runtime import TrackSettings
from cio_sync.members.raw_writes import RULE_INPUTS, RULE_OUTPUTS, VERSION_FIELDS
from cio_sync.observability import NAMESPACE
from cio_sync.pipeline.consent import READ_ATTRIBUTES
from cio_sync.pipeline.redelivery import MAX_RECEIVES, outage_budget_s
from cio_sync_cli.imports_check import DEFAULT_MAX_BYTES
from tests.infra.cfn import (
    DATA_SERVICES,
    Grant,
    Template,
    as_list,
    canonical,
    event_source_mapping,
    function_role,
    grants,
    parameter_default,
    physical_name,
    properties,
    resolve_sub,
    resources,
)

pytestmark = [pytest.mark.infra, pytest.mark.timeout(1800)]

RUNTIME = "python3.13"
ARCHITECTURE = "arm64"
DEAD_LETTER_RETENTION_S = 14 * 24 * 3600
FOURTEEN_DAYS_S = 14 * 24 * 3600

HANDLERS = {
    "MemberStreamFunction": "cio_sync.handlers.member_stream.handler",
    "TrackFunction": "cio_sync.handlers.track.handler",
    "EmailFunction": "cio_sync.handlers.email.handler",
    "ImportFileFunction": "cio_sync.handlers.import_file.handler",
    "ImportChunkFunction": "cio_sync.handlers.import_chunk.handler",
    "ProfileSweepFunction": "cio_sync.handlers.profile_sweep.handler",
    "ReportingWebhookFunction": "cio_sync.handlers.reporting_webhook.handler",
    "ConsentFunction": "cio_sync.handlers.consent.handler",
}

# Variables every function gets from Globals (read by Powertools and the AWS SDK), then each function's
# own: exactly what its settings type reads, by value (canonical form).
GLOBAL_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "Ref:AWS::StackName",
    "POWERTOOLS_METRICS_NAMESPACE": "CioSync",
    "POWERTOOLS_LOG_LEVEL": "Ref:LogLevel",
    "AWS_ENDPOINT_URL": "",
}
CUSTOMER_IO_ENVIRONMENT = {
    "CUSTOMER_IO_REGION": "Ref:CustomerIoRegion",
    "CUSTOMER_IO_ENABLED": "Ref:CustomerIoEnabled",
}
ENVIRONMENT = {
    "MemberStreamFunction": {
        **GLOBAL_ENVIRONMENT,
        "MEMBER_TABLE_NAME": "Ref:MemberTable",
        "TRACK_QUEUE_URL": "Ref:TrackQueue",
        "EMAIL_QUEUE_URL": "Ref:EmailQueue",
        "STREAM_FAILURE_QUEUE_URL": "Ref:StreamFailureQueue",
        "IDEMPOTENCY_TABLE_NAME": "Ref:IdempotencyTable",
        "VOLATILE_SYNC_WINDOW_S": "Ref:VolatileSyncWindowSeconds",
    },
    "TrackFunction": {
        **GLOBAL_ENVIRONMENT,
        **CUSTOMER_IO_ENVIRONMENT,
        "MEMBER_TABLE_NAME": "Ref:MemberTable",
        "CUSTOMER_IO_TRACK_SECRET_NAME": "Ref:CustomerIoTrackSecretName",
        "CUSTOMER_IO_TRACK_RATE_PER_S": "Ref:TrackRatePerSecond",
        "EMAIL_TOPIC_MAP": "Ref:EmailTopicMap",
        "CUSTOMER_IO_TRACK_CONCURRENCY": "Ref:TrackMaxConcurrency",
        "CUSTOMER_IO_TRACK_URL": "",
        "TRACK_DEAD_LETTER_QUEUE_URL": "Ref:TrackDeadLetterQueue",
        "MAX_RECEIVE_COUNT": str(MAX_RECEIVES),
        "TRACK_QUEUE_URL": "Ref:TrackQueue",
    },
    "EmailFunction": {
        **GLOBAL_ENVIRONMENT,
        **CUSTOMER_IO_ENVIRONMENT,
        "MEMBER_TABLE_NAME": "Ref:MemberTable",
        "IDEMPOTENCY_TABLE_NAME": "Ref:IdempotencyTable",
        "CUSTOMER_IO_APP_SECRET_NAME": "Ref:CustomerIoAppSecretName",
        "CUSTOMER_IO_APP_RATE_PER_S": "Ref:AppRatePerSecond",
        "CUSTOMER_IO_APP_CONCURRENCY": "Ref:EmailMaxConcurrency",
        "CUSTOMER_IO_APP_URL": "",
        "CUSTOMER_IO_APP_IDENTIFIER_ID": "Ref:AppIdentifierId",
        "CUSTOMER_IO_FORGOT_PASSWORD_TRANSACTIONAL_MESSAGE_ID": "Ref:ForgotPasswordMessageId",
        "CUSTOMER_IO_PASSWORD_UPDATED_TRANSACTIONAL_MESSAGE_ID": "Ref:PasswordUpdatedMessageId",
        "EMAIL_DEAD_LETTER_QUEUE_URL": "Ref:EmailDeadLetterQueue",
        "MAX_RECEIVE_COUNT": str(MAX_RECEIVES),
        "EMAIL_QUEUE_URL": "Ref:EmailQueue",
    },
    "ImportFileFunction": {
        **GLOBAL_ENVIRONMENT,
        "IMPORT_BUCKET": "Ref:ImportBucket",
        "IMPORT_CHUNK_QUEUE_URL": "Ref:ImportChunkQueue",
        "IMPORT_MAX_BYTES": "536870912",
    },
    "ImportChunkFunction": {
        **GLOBAL_ENVIRONMENT,
        "MEMBER_TABLE_NAME": "Ref:MemberTable",
        "IDEMPOTENCY_TABLE_NAME": "Ref:IdempotencyTable",
        "IMPORT_BUCKET": "Ref:ImportBucket",
    },
    "ProfileSweepFunction": {
        **GLOBAL_ENVIRONMENT,
        **CUSTOMER_IO_ENVIRONMENT,
        "MEMBER_TABLE_NAME": "Ref:MemberTable",
        "TRACK_QUEUE_URL": "Ref:TrackQueue",
        "CUSTOMER_IO_APP_SECRET_NAME": "Ref:CustomerIoAppSecretName",
        "CUSTOMER_IO_APP_URL": "",
        "CUSTOMER_IO_APP_IDENTIFIER_ID": "Ref:AppIdentifierId",
        "PROFILE_SWEEP_APP_RATE_PER_S": "Ref:ProfileSweepAppRatePerSecond",
        "PROFILE_SWEEP_CHECK_ATTRIBUTES": "Ref:ProfileSweepCheckAttributes",
        "PROFILE_SWEEP_MAX_DELETES": "Ref:ProfileSweepMaxDeletes",
        "PROFILE_SWEEP_FIND_MISSING": "Ref:ProfileSweepFindMissing",
        "PROFILE_SWEEP_READ_CONSENT": "Ref:ProfileSweepReadConsent",
        "PROFILE_SWEEP_READ_OPT_OUTS": "Ref:ProfileSweepReadOptOuts",
        "EMAIL_TOPIC_MAP": "Ref:EmailTopicMap",
        "VOLATILE_SYNC_WINDOW_S": "Ref:VolatileSyncWindowSeconds",
    },
    "ReportingWebhookFunction": {
        **GLOBAL_ENVIRONMENT,
        "CONSENT_QUEUE_URL": "Ref:ConsentQueue",
        "REPORTING_WEBHOOK_SECRET_NAME": "Ref:ReportingWebhookSecretName",
    },
    "ConsentFunction": {
        **GLOBAL_ENVIRONMENT,
        "MEMBER_TABLE_NAME": "Ref:MemberTable",
        "CONSENT_DEAD_LETTER_QUEUE_URL": "Ref:ConsentDeadLetterQueue",
        "CONSENT_QUARANTINE_QUEUE_URL": "Ref:ConsentQuarantineQueue",
        "EMAIL_TOPIC_MAP": "Ref:EmailTopicMap",
        "BOUNCE_POLICY": "Ref:BouncePolicy",
        "CONSENT_QUARANTINE_START": "Ref:ConsentQuarantineStart",
        "CONSENT_QUARANTINE_END": "Ref:ConsentQuarantineEnd",
        "CUSTOMER_IO_APP_IDENTIFIER_ID": "Ref:AppIdentifierId",
    },
}
SETTINGS: dict[str, Callable[[Mapping[str, str]], object]] = {
    "MemberStreamFunction": MemberStreamSettings.from_env,
    "TrackFunction": TrackSettings.from_env,
    "EmailFunction": EmailSettings.from_env,
    "ImportFileFunction": ImportFileSettings.from_env,
    "ImportChunkFunction": ImportChunkSettings.from_env,
    "ProfileSweepFunction": ProfileSweepSettings.from_env,
    "ReportingWebhookFunction": ReportingWebhookSettings.from_env,
    "ConsentFunction": ConsentSettings.from_env,
}
# Set by Lambda itself (AWS_REGION), or only by the local stack's tests (RETRY_TIME_SCALE): read, never
# declared in the template.
NOT_DECLARED = {"AWS_REGION", "RETRY_TIME_SCALE"}


class RecordingEnvironment(dict[str, str]):
    """An environment that remembers which variables were looked up."""

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.looked_up: set[str] = set()

    def get(self, name: str, default: Any = None) -> Any:
        self.looked_up.add(name)
        return super().get(name, default)


# (queue, batch size, MaximumConcurrency as written) per SQS-triggered function.
SQS_MAPPINGS = {
    "TrackFunction": ("TrackQueue", 10, "Ref:TrackMaxConcurrency"),
    "EmailFunction": ("EmailQueue", 10, "Ref:EmailMaxConcurrency"),
    "ImportFileFunction": ("ImportFileQueue", 1, "2"),
    "ImportChunkFunction": ("ImportChunkQueue", 1, "Ref:ImportChunkMaxConcurrency"),
    "ConsentFunction": ("ConsentQueue", 10, "2"),
}
FIFO_QUEUES = {
    "TrackQueue",
    "TrackDeadLetterQueue",
    "ImportChunkQueue",
    "ImportChunkDeadLetterQueue",
    "ConsentQueue",
    "ConsentDeadLetterQueue",
    "ConsentQuarantineQueue",
}
DEAD_LETTER_QUEUES = {
    "TrackQueue": "TrackDeadLetterQueue",
    "EmailQueue": "EmailDeadLetterQueue",
    "ImportFileQueue": "ImportFileDeadLetterQueue",
    "ImportChunkQueue": "ImportChunkDeadLetterQueue",
    "ConsentQueue": "ConsentDeadLetterQueue",
}
# The consent quarantine is filled on purpose (an operator's window), and alarms so someone empties it.
QUEUES_THAT_MUST_STAY_EMPTY = {*DEAD_LETTER_QUEUES.values(), "StreamFailureQueue", "ConsentQuarantineQueue"}

# Two secrets, one per API: each function may read only its own.
TRACK_SECRET_ARN = (
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
    "${CustomerIoTrackSecretName}-??????"
)
APP_SECRET_ARN = (
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
    "${CustomerIoAppSecretName}-??????"
)
WEBHOOK_SECRET_ARN = (
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
    "${ReportingWebhookSecretName}-??????"
)
UPLOADS = "${ImportBucket.Arn}/mute-promotions/*"
REPORTS = "${ImportBucket.Arn}/reports/*"


def _logs_and_traces(log_group: str) -> set[Grant]:
    return {
        Grant("logs:CreateLogStream", f"{log_group}.Arn"),
        Grant("logs:PutLogEvents", f"{log_group}.Arn"),
        Grant("xray:PutTraceSegments", "*"),
        Grant("xray:PutTelemetryRecords", "*"),
    }


def _consume(queue: str) -> set[Grant]:
    actions = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
    return {Grant(action, f"{queue}.Arn") for action in actions}


def _on(resource: str, *actions: str) -> set[Grant]:
    return {Grant(action, resource) for action in actions}


# What a rule write-back touches: its key, the version fields and every rule input (conditions read them,
# outputs write them). Derived from the rules, so a new rule input cannot be forgotten in the grant.
RULE_WRITE_CONDITION = (
    "ForAllValues:StringEquals dynamodb:Attributes "
    + ",".join(sorted({"id", *VERSION_FIELDS, *RULE_INPUTS, *RULE_OUTPUTS}))
    + "; StringEqualsIfExists dynamodb:ReturnValues NONE"
)
CONSENT_CONDITION = (
    "ForAllValues:StringEquals dynamodb:Attributes "
    + ",".join(sorted(READ_ATTRIBUTES))
    + "; StringEqualsIfExists dynamodb:ReturnValues NONE"
)
# The email's claims: its own `email#` items of the idempotency table only.
EMAIL_CLAIMS = {
    Grant(action, "IdempotencyTable.Arn", "ForAllValues:StringLike dynamodb:LeadingKeys email#*")
    for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
}
# An import's mute: the mute time and the version token, conditioned on the key, nothing returned.
MUTE_CONDITION = (
    "ForAllValues:StringEquals dynamodb:Attributes id,promotions_muted_at,updated_at"
    "; StringEqualsIfExists dynamodb:ReturnValues NONE"
)
LIST_REPORTS = Grant("s3:ListBucket", "ImportBucket.Arn", "StringLike s3:prefix reports/*")

# Exactly what each function may do: the list plus what its event source mapping needs.
EXPECTED_GRANTS = {
    "MemberStreamFunction": _logs_and_traces("MemberStreamLogGroup")
    | _on(
        "MemberTable.StreamArn",
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
    )
    # The rules' write-back: only the attributes the rules read and decide, and nothing returned.
    | {Grant("dynamodb:UpdateItem", "MemberTable.Arn", RULE_WRITE_CONDITION)}
    | {
        Grant(action, "IdempotencyTable.Arn", "ForAllValues:StringLike dynamodb:LeadingKeys rules#*")
        for action in ("dynamodb:BatchGetItem", "dynamodb:BatchWriteItem")
    }
    | _on("TrackQueue.Arn", "sqs:SendMessage")
    | _on("EmailQueue.Arn", "sqs:SendMessage")
    | _on("StreamFailureQueue.Arn", "sqs:SendMessage"),
    "TrackFunction": _logs_and_traces("TrackLogGroup")
    | _consume("TrackQueue")
    | _on("TrackQueue.Arn", "sqs:ChangeMessageVisibility")  # backoff of failed messages
    | _on("TrackDeadLetterQueue.Arn", "sqs:SendMessage")
    # get_many is pynamodb's batch_get: BatchGetItem, which moto does not authorise, so only this test
    # can catch a missing grant.
    | _on("MemberTable.Arn", "dynamodb:BatchGetItem", "dynamodb:GetItem")
    | _on(TRACK_SECRET_ARN, "secretsmanager:GetSecretValue"),
    "EmailFunction": _logs_and_traces("EmailLogGroup")
    | _consume("EmailQueue")
    | _on("EmailQueue.Arn", "sqs:ChangeMessageVisibility")
    | _on("EmailDeadLetterQueue.Arn", "sqs:SendMessage")
    | _on("EmailDeadLetterKey.Arn", "kms:GenerateDataKey", "kms:Decrypt")  # the DLQ is KMS-encrypted
    | _on("MemberTable.Arn", "dynamodb:GetItem")
    | EMAIL_CLAIMS
    | _on(APP_SECRET_ARN, "secretsmanager:GetSecretValue"),
    "ImportFileFunction": _logs_and_traces("ImportFileLogGroup")
    | _consume("ImportFileQueue")
    | _on(UPLOADS, "s3:GetObject", "s3:GetObjectVersion")
    | _on(REPORTS, "s3:GetObject", "s3:PutObject")
    | {LIST_REPORTS}
    | _on("ImportChunkQueue.Arn", "sqs:SendMessage"),
    # Chunks carry their rows, so the chunk function never reads uploads; claims are conditional puts.
    "ImportChunkFunction": _logs_and_traces("ImportChunkLogGroup")
    | _consume("ImportChunkQueue")
    | _on(REPORTS, "s3:GetObject", "s3:PutObject")
    | {LIST_REPORTS}
    | _on("MemberTable.Arn", "dynamodb:GetItem")
    | {Grant("dynamodb:UpdateItem", "MemberTable.Arn", MUTE_CONDITION)}
    | {
        Grant(action, "IdempotencyTable.Arn", "ForAllValues:StringLike dynamodb:LeadingKeys mute-import#*")
        for action in ("dynamodb:GetItem", "dynamodb:PutItem")
    },
    # Reads (the App API key, the table by BatchGetItem and a Scan); every fix is a sync on the track
    # queue; its one write is the consent read-back's, under the consent function's condition.
    "ProfileSweepFunction": _logs_and_traces("ProfileSweepLogGroup")
    | _on("MemberTable.Arn", "dynamodb:BatchGetItem", "dynamodb:Scan")
    | _on("TrackQueue.Arn", "sqs:SendMessage")
    | _on(APP_SECRET_ARN, "secretsmanager:GetSecretValue")
    | {
        Grant(action, "MemberTable.Arn", CONSENT_CONDITION)
        for action in ("dynamodb:GetItem", "dynamodb:UpdateItem")
    },
    # Only its own secret, and only the consent queue.
    "ReportingWebhookFunction": _logs_and_traces("ReportingWebhookLogGroup")
    | _on("ConsentQueue.Arn", "sqs:SendMessage")
    | _on(WEBHOOK_SECRET_ARN, "secretsmanager:GetSecretValue"),
    # Only the consent attributes of the table, nothing returned; parks to its DLQ and the quarantine.
    "ConsentFunction": _logs_and_traces("ConsentLogGroup")
    | _consume("ConsentQueue")
    | _on("ConsentDeadLetterQueue.Arn", "sqs:SendMessage")
    | _on("ConsentQuarantineQueue.Arn", "sqs:SendMessage")
    | {
        Grant(action, "MemberTable.Arn", CONSENT_CONDITION)
        for action in ("dynamodb:GetItem", "dynamodb:UpdateItem")
    },
}


def canonical_or_number(value: Any) -> Any:
    return value if isinstance(value, int) else canonical(value)


def _environment(template: Template, function: str) -> dict[str, str]:
    variables = properties(template, function)["Environment"]["Variables"]
    return {name: canonical(value) for name, value in variables.items()}


def test_the_six_functions_and_their_handlers(transformed: Template) -> None:
    functions = resources(transformed, "AWS::Lambda::Function")
    assert {name: fn["Properties"]["Handler"] for name, fn in functions.items()} == HANDLERS


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_function_runtime_architecture_tracing_and_logs(transformed: Template, function: str) -> None:
    fn = properties(transformed, function)
    assert fn["Runtime"] == RUNTIME
    assert fn["Architectures"] == [ARCHITECTURE]
    assert fn["TracingConfig"] == {"Mode": "Active"}
    log_group = canonical(fn["LoggingConfig"]["LogGroup"]).removeprefix("Ref:")
    log_group_properties = properties(transformed, log_group)
    assert transformed["Resources"][log_group]["Type"] == "AWS::Logs::LogGroup"
    assert "RetentionInDays" in log_group_properties
    assert canonical(log_group_properties["LogGroupName"]) == "/aws/lambda/" + canonical(fn["FunctionName"])
    assert transformed["Resources"][function]["Metadata"]["BuildMethod"] == "makefile"


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_function_environment_is_exactly_what_its_settings_read(transformed: Template, function: str) -> None:
    environment = _environment(transformed, function)
    assert environment == ENVIRONMENT[function]
    # Its settings type, fed the template's variables (Refs as placeholder values), reads every one of
    # them and nothing else (apart from what Lambda provides).
    values = {
        name: "4" if name.endswith(("_S", "_BYTES", "COUNT", "CONCURRENCY", "_DELETES")) else "x"
        for name in environment
    }
    values.update(CUSTOMER_IO_REGION="us", CUSTOMER_IO_ENABLED="true", AWS_REGION="us-east-1")
    flags = (
        "PROFILE_SWEEP_CHECK_ATTRIBUTES",
        "PROFILE_SWEEP_FIND_MISSING",
        "PROFILE_SWEEP_READ_CONSENT",
        "PROFILE_SWEEP_READ_OPT_OUTS",
    )
    values.update({name: "false" for name in environment if name in flags})
    values.update({name: "news=1" for name in environment if name == "EMAIL_TOPIC_MAP"})
    values.update({name: "record" for name in environment if name == "BOUNCE_POLICY"})
    values.update(
        {name: "" for name in environment if name in ("CONSENT_QUARANTINE_START", "CONSENT_QUARANTINE_END")}
    )
    recorded = RecordingEnvironment(values)
    SETTINGS[function](recorded)
    declared = {name for name in environment if name not in GLOBAL_ENVIRONMENT}
    assert recorded.looked_up - NOT_DECLARED == declared


def test_stream_mapping_follows_aws_advice(transformed: Template) -> None:
    mapping = event_source_mapping(transformed, "MemberStreamFunction")
    assert canonical(mapping["EventSourceArn"]) == "MemberTable.StreamArn"
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    # Large batches let one invocation pack a bulk change into few lane messages; the 1 s window
    # bounds how long an interactive change waits.
    assert mapping["BatchSize"] == 1000
    assert 0 <= mapping["MaximumBatchingWindowInSeconds"] <= 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    # Poison records are parked by the function itself; what reaches Lambda's retries may pass, so it is
    # retried until the record expires (a day) instead of being skipped after a few attempts.
    assert mapping["MaximumRetryAttempts"] == -1
    assert mapping["MaximumRecordAgeInSeconds"] == 86400
    assert canonical(mapping["DestinationConfig"]["OnFailure"]["Destination"]) == "StreamFailureQueue.Arn"


@pytest.mark.parametrize("function", sorted(SQS_MAPPINGS))
def test_sqs_mappings_report_partial_failures_and_bound_concurrency(
    transformed: Template, function: str
) -> None:
    queue, batch_size, maximum_concurrency = SQS_MAPPINGS[function]
    mapping = event_source_mapping(transformed, function)
    assert canonical(mapping["EventSourceArn"]) == f"{queue}.Arn"
    assert mapping["BatchSize"] == batch_size
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert str(canonical_or_number(mapping["ScalingConfig"]["MaximumConcurrency"])) == maximum_concurrency


def test_concurrency_defaults_and_pacing_respect_customer_io_fair_use(transformed: Template) -> None:
    """The rates are the fleet's budget; each instance paces at rate / concurrency (see settings)."""
    track = ApiSettings(
        "secret",
        TRACK_FIELDS,
        "https://track.customer.io",
        rate_per_s=float(parameter_default(transformed, "TrackRatePerSecond")),
        concurrency=int(parameter_default(transformed, "TrackMaxConcurrency")),
        enabled=True,
    )
    app = ApiSettings(
        "secret",
        APP_FIELDS,
        "https://api.customer.io",
        rate_per_s=float(parameter_default(transformed, "AppRatePerSecond")),
        concurrency=int(parameter_default(transformed, "EmailMaxConcurrency")),
        enabled=True,
    )
    assert track.rate_per_process * track.concurrency <= 100
    assert app.rate_per_process * app.concurrency <= 10
    assert parameter_default(transformed, "TrackMaxConcurrency") == "2"
    assert parameter_default(transformed, "EmailMaxConcurrency") == "2"
    assert parameter_default(transformed, "ImportChunkMaxConcurrency") == "10"


@pytest.mark.parametrize("function", sorted(SQS_MAPPINGS))
def test_visibility_timeout_is_at_least_six_times_the_function_timeout(
    transformed: Template, function: str
) -> None:
    queue = SQS_MAPPINGS[function][0]
    timeout = properties(transformed, function)["Timeout"]
    assert properties(transformed, queue)["VisibilityTimeout"] >= 6 * timeout


def test_every_queue_is_consumed_dead_letter_or_failure_destination(transformed: Template) -> None:
    queues = set(resources(transformed, "AWS::SQS::Queue"))
    assert queues == set(DEAD_LETTER_QUEUES) | QUEUES_THAT_MUST_STAY_EMPTY


@pytest.mark.parametrize("queue", sorted(DEAD_LETTER_QUEUES))
def test_every_consumed_queue_has_a_dead_letter_queue(transformed: Template, queue: str) -> None:
    redrive = properties(transformed, queue)["RedrivePolicy"]
    dead_letter_queue = DEAD_LETTER_QUEUES[queue]
    assert canonical(redrive["deadLetterTargetArn"]) == f"{dead_letter_queue}.Arn"
    # Consumers that call Customer.io wait out its outages (pipeline/redelivery.py); the others give up early.
    calls_customer_io = queue in ("TrackQueue", "EmailQueue")
    assert redrive["maxReceiveCount"] == (MAX_RECEIVES if calls_customer_io else 5)
    if calls_customer_io:
        assert properties(transformed, queue)["MessageRetentionPeriod"] == FOURTEEN_DAYS_S
        assert outage_budget_s(redrive["maxReceiveCount"]) > 24 * 3600
    consumers = [fn for fn, mapping in SQS_MAPPINGS.items() if mapping[0] == queue]
    for consumer in consumers:
        # The function parks a message itself on its last receive, so the two counts must agree.
        declared = properties(transformed, consumer)["Environment"]["Variables"].get("MAX_RECEIVE_COUNT")
        assert declared in (None, str(redrive["maxReceiveCount"])), consumer
    dlq = properties(transformed, dead_letter_queue)
    if dead_letter_queue == "EmailDeadLetterQueue":
        # Email intents may hold reset links: kept a few hours, not two weeks (parameterised, KMS).
        assert canonical(dlq["MessageRetentionPeriod"]) == "Ref:EmailDeadLetterRetentionSeconds"
        assert parameter_default(transformed, "EmailDeadLetterRetentionSeconds") == "10800"
        assert canonical(dlq["KmsMasterKeyId"]) == "Ref:EmailDeadLetterKey"
    else:
        assert dlq["MessageRetentionPeriod"] == DEAD_LETTER_RETENTION_S
        assert dlq["MessageRetentionPeriod"] >= properties(transformed, queue).get(
            "MessageRetentionPeriod", 345600
        )
    assert bool(dlq.get("FifoQueue")) == bool(properties(transformed, queue).get("FifoQueue"))


def test_queue_kinds(transformed: Template) -> None:
    for queue in resources(transformed, "AWS::SQS::Queue"):
        queue_properties = properties(transformed, queue)
        assert bool(queue_properties.get("FifoQueue")) == (queue in FIFO_QUEUES), queue
        assert canonical(queue_properties["QueueName"]).endswith(".fifo") == (queue in FIFO_QUEUES), queue
    assert properties(transformed, "TrackQueue")["ContentBasedDeduplication"] is False
    assert properties(transformed, "ImportChunkQueue")["ContentBasedDeduplication"] is False
    assert properties(transformed, "StreamFailureQueue")["MessageRetentionPeriod"] == DEAD_LETTER_RETENTION_S


@pytest.mark.parametrize("queue", sorted(QUEUES_THAT_MUST_STAY_EMPTY))
def test_every_dead_letter_queue_has_an_alarm(transformed: Template, queue: str) -> None:
    alarms = [
        alarm
        for alarm in (a["Properties"] for a in resources(transformed, "AWS::CloudWatch::Alarm").values())
        if alarm["Namespace"] == "AWS/SQS"
        and [canonical(d["Value"]) for d in alarm["Dimensions"]] == [f"{queue}.QueueName"]
    ]
    assert len(alarms) == 1, f"{queue} needs exactly one alarm"
    alarm = alarms[0]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Threshold"] == 0
    assert [canonical(action) for action in alarm["AlarmActions"]] == ["Ref:AlarmTopic"]


def _function_alarms(template: Template, function: str) -> dict[str, dict[str, Any]]:
    found = {}
    for alarm in (a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values()):
        dimensions = [(d["Name"], canonical(d["Value"])) for d in alarm["Dimensions"]]
        if alarm["Namespace"] == "AWS/Lambda" and dimensions == [("FunctionName", f"Ref:{function}")]:
            found[alarm["MetricName"]] = alarm
    return found


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_every_function_alarms_on_errors_and_throttles(transformed: Template, function: str) -> None:
    alarms = _function_alarms(transformed, function)
    for metric in ("Errors", "Throttles"):
        assert metric in alarms, f"{function} has no {metric} alarm"
        assert alarms[metric]["Threshold"] == 0
        assert alarms[metric]["ComparisonOperator"] == "GreaterThanThreshold"
        assert [canonical(action) for action in alarms[metric]["AlarmActions"]] == ["Ref:AlarmTopic"]


def test_stream_iterator_age_alarm(transformed: Template) -> None:
    alarm = _function_alarms(transformed, "MemberStreamFunction")["IteratorAge"]
    assert alarm["Statistic"] == "Maximum"
    assert 0 < alarm["Threshold"] <= 15 * 60 * 1000


@pytest.mark.parametrize(
    "metric",
    [
        "CustomerIoErrors",
        "CustomerIoConfigurationErrors",
        "StreamRecordsParked",
        "EmailSentUnrecorded",
        "ProfileSweepOrphans",
        "ProfileSweepIncomplete",
    ],
)
def test_the_projects_own_metrics_have_alarms(transformed: Template, metric: str) -> None:
    """Metrics the functions write (Powertools: namespace CioSync, dimension service) that need a human."""
    alarms = [
        alarm
        for alarm in (a["Properties"] for a in resources(transformed, "AWS::CloudWatch::Alarm").values())
        if alarm["Namespace"] == NAMESPACE and alarm["MetricName"] == metric
    ]
    assert len(alarms) == 1, f"{metric} needs exactly one alarm"
    alarm = alarms[0]
    assert alarm["Dimensions"] == [{"Name": "service", "Value": {"Ref": "AWS::StackName"}}]
    assert alarm["Statistic"] == "Sum"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert [canonical(action) for action in alarm["AlarmActions"]] == ["Ref:AlarmTopic"]


def _alarm_on(template: Template, metric: str) -> dict[str, Any]:
    alarm: dict[str, Any]
    (alarm,) = [
        alarm
        for alarm in (a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values())
        if alarm["Namespace"] == NAMESPACE and alarm["MetricName"] == metric
    ]
    return alarm


def test_orphan_profiles_alarm_above_a_configurable_count(transformed: Template) -> None:
    """More than N orphans in one sweep: something upstream loses member deletions."""
    alarm = _alarm_on(transformed, "ProfileSweepOrphans")
    assert canonical(alarm["Threshold"]) == "Ref:ProfileSweepOrphanAlarmThreshold"
    assert parameter_default(transformed, "ProfileSweepOrphanAlarmThreshold") == "10"
    assert _alarm_on(transformed, "ProfileSweepIncomplete")["Threshold"] == 0


def test_sync_lag_alarms_on_a_sustained_p99_above_a_configurable_goal(transformed: Template) -> None:
    """Freshness (issue 24): the p99 of SyncLagMs over 5 s for 15 minutes in a row pages someone."""
    alarm = _alarm_on(transformed, "SyncLagMs")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": {"Ref": "AWS::StackName"}}]
    assert (alarm["ExtendedStatistic"], "Statistic" in alarm) == ("p99", False)
    assert canonical(alarm["Threshold"]) == "Ref:SyncLagAlarmThresholdMs"
    assert parameter_default(transformed, "SyncLagAlarmThresholdMs") == "5000"
    assert alarm["Period"] * alarm["DatapointsToAlarm"] >= 15 * 60
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"]
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    assert [canonical(action) for action in alarm["AlarmActions"]] == ["Ref:AlarmTopic"]


def test_the_dashboard_shows_the_sync_lag_p50_and_p99(transformed: Template) -> None:
    stats = {
        metric[-1]["stat"]
        for widget in _dashboard(transformed)["widgets"]
        for metric in widget["properties"]["metrics"]
        if metric[:4] == ["CioSync", "SyncLagMs", "service", "AWS::StackName"]
        and isinstance(metric[-1], dict)
    }
    assert stats == {"p50", "p99"}


def test_the_profile_sweep_runs_weekly_on_a_schedule_that_can_be_switched_off(transformed: Template) -> None:
    rules = resources(transformed, "AWS::Events::Rule")
    (rule,) = [
        rule["Properties"]
        for rule in rules.values()
        if [canonical(target["Arn"]) for target in rule["Properties"]["Targets"]]
        == ["ProfileSweepFunction.Arn"]
    ]
    assert canonical(rule["ScheduleExpression"]) == "Ref:ProfileSweepSchedule"
    assert parameter_default(transformed, "ProfileSweepSchedule") == "cron(0 6 ? * MON *)"
    assert rule["State"] == {"Fn::If": ["ProfileSweepScheduled", "ENABLED", "DISABLED"]}
    assert transformed["Conditions"]["ProfileSweepScheduled"] == {
        "Fn::Equals": [{"Ref": "ProfileSweepEnabled"}, "true"]
    }
    assert parameter_default(transformed, "ProfileSweepEnabled") == "true"
    assert re.fullmatch(transformed["Parameters"]["ProfileSweepSchedule"]["AllowedPattern"], "rate(7 days)")
    (permission,) = [
        p["Properties"]
        for p in resources(transformed, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Ref": "ProfileSweepFunction"}
    ]
    assert permission["Principal"] == "events.amazonaws.com"


def test_one_sweep_at_a_time_never_retried_within_the_app_api_budget(transformed: Template) -> None:
    function = properties(transformed, "ProfileSweepFunction")
    assert function["ReservedConcurrentExecutions"] == 1
    assert function["Timeout"] == 900
    (invoke_config,) = [
        c["Properties"]
        for c in resources(transformed, "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": "ProfileSweepFunction"}
    ]
    assert invoke_config["MaximumRetryAttempts"] == 0
    # One process at this pace: at most half the App API's 10/s by default, never above 8.
    rate = transformed["Parameters"]["ProfileSweepAppRatePerSecond"]
    assert int(rate["Default"]) <= 5
    assert int(rate["MaxValue"]) < 10
    settings = ProfileSweepSettings.from_env(
        {
            "AWS_REGION": "us-east-1",
            "MEMBER_TABLE_NAME": "t",
            "TRACK_QUEUE_URL": "q",
            "CUSTOMER_IO_REGION": "us",
            "CUSTOMER_IO_APP_SECRET_NAME": "s",
            "CUSTOMER_IO_ENABLED": "true",
            "CUSTOMER_IO_APP_IDENTIFIER_ID": "p",
            "PROFILE_SWEEP_APP_RATE_PER_S": str(rate["Default"]),
            "PROFILE_SWEEP_CHECK_ATTRIBUTES": "false",
            "PROFILE_SWEEP_MAX_DELETES": "10000",
            "PROFILE_SWEEP_FIND_MISSING": "true",
            "PROFILE_SWEEP_READ_CONSENT": "true",
            "PROFILE_SWEEP_READ_OPT_OUTS": "true",
            "VOLATILE_SYNC_WINDOW_S": "86400",
        }
    )
    assert settings.app_api.rate_per_process == float(rate["Default"])
    assert settings.app_api.base_url == "https://api.customer.io"
    assert parameter_default(transformed, "ProfileSweepCheckAttributes") == "false"
    assert parameter_default(transformed, "ProfileSweepFindMissing") == "true"
    # Off: it would cost ten times the walk's App API budget (docs/sweep.md); reconcile --consent on demand.
    assert parameter_default(transformed, "ProfileSweepReadConsent") == "false"
    # On: a lost unsubscribe webhook converges on every run, for requests per unsubscribed profile.
    assert parameter_default(transformed, "ProfileSweepReadOptOuts") == "true"
    assert settings.read_opt_outs is True
    assert parameter_default(transformed, "ProfileSweepMaxDeletes") == "10000"


def test_alarm_topic_is_encrypted_and_email_is_optional(transformed: Template) -> None:
    topic = properties(transformed, "AlarmTopic")
    assert canonical(topic["KmsMasterKeyId"]) == "Ref:AlarmTopicKey"
    key = properties(transformed, "AlarmTopicKey")
    assert key["EnableKeyRotation"] is True
    principals = [s["Principal"] for s in key["KeyPolicy"]["Statement"]]
    assert {"Service": "cloudwatch.amazonaws.com"} in principals
    subscription = transformed["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert transformed["Conditions"]["HasAlarmEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }
    assert parameter_default(transformed, "AlarmEmail") == ""


def test_encryption_everywhere(transformed: Template) -> None:
    for queue in resources(transformed, "AWS::SQS::Queue"):
        queue_properties = properties(transformed, queue)
        assert queue_properties.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in queue_properties
    for table in resources(transformed, "AWS::DynamoDB::Table"):
        assert properties(transformed, table)["SSESpecification"] == {"SSEEnabled": True}
    bucket = properties(transformed, "ImportBucket")
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    for topic in resources(transformed, "AWS::SNS::Topic"):
        assert "KmsMasterKeyId" in properties(transformed, topic)


def test_member_table(transformed: Template) -> None:
    table = properties(transformed, "MemberTable")
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}
    assert transformed["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Environment"}, "prod"]}


def test_idempotency_table(transformed: Template) -> None:
    table = properties(transformed, "IdempotencyTable")
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_import_bucket_is_private_versioned_and_expires_uploads(transformed: Template) -> None:
    bucket = properties(transformed, "ImportBucket")
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    uploads_rule = next(
        rule for rule in bucket["LifecycleConfiguration"]["Rules"] if rule.get("Prefix") == "mute-promotions/"
    )
    assert uploads_rule["Status"] == "Enabled"
    assert canonical(uploads_rule["ExpirationInDays"]) == "Ref:UploadRetentionDays"
    assert "NoncurrentDays" in uploads_rule["NoncurrentVersionExpiration"]
    assert parameter_default(transformed, "UploadRetentionDays") == "14"
    # Reports and rejected-row files name member ids and outcomes: they expire too (configurable).
    reports_rule = next(
        rule for rule in bucket["LifecycleConfiguration"]["Rules"] if rule.get("Prefix") == "reports/"
    )
    assert reports_rule["Status"] == "Enabled"
    assert canonical(reports_rule["ExpirationInDays"]) == "Ref:ReportRetentionDays"
    assert parameter_default(transformed, "ReportRetentionDays") == "30"


def test_import_bucket_allows_tls_only(transformed: Template) -> None:
    policy = properties(transformed, "ImportBucketPolicy")
    assert canonical(policy["Bucket"]) == "Ref:ImportBucket"
    (deny_plain_http,) = [
        statement
        for statement in policy["PolicyDocument"]["Statement"]
        if statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert deny_plain_http["Effect"] == "Deny"
    assert deny_plain_http["Principal"] == "*"
    assert {canonical(r) for r in deny_plain_http["Resource"]} == {
        "ImportBucket.Arn",
        "${ImportBucket.Arn}/*",
    }


def test_uploads_notify_the_import_file_queue(transformed: Template) -> None:
    bucket = transformed["Resources"]["ImportBucket"]
    (notification,) = bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert notification["Event"] == "s3:ObjectCreated:*"
    assert canonical(notification["Queue"]) == "ImportFileQueue.Arn"
    assert notification["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "mute-promotions/"}]
    assert "ImportFileQueuePolicy" in as_list(bucket["DependsOn"])

    policy = properties(transformed, "ImportFileQueuePolicy")
    assert [canonical(q) for q in policy["Queues"]] == ["Ref:ImportFileQueue"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    source_arn = resolve_sub(canonical(statement["Condition"]["ArnEquals"]["aws:SourceArn"]), transformed)
    assert source_arn == "arn:aws:s3:::" + physical_name(transformed, "ImportBucket", "BucketName")


@pytest.mark.parametrize("function", sorted(EXPECTED_GRANTS))
def test_each_function_may_do_exactly_what_it_needs(transformed: Template, function: str) -> None:
    role = function_role(transformed, function)
    actual = grants(transformed, role)
    assert actual - EXPECTED_GRANTS[function] == set(), "more than listed"
    assert EXPECTED_GRANTS[function] - actual == set(), "less than listed"


def test_roles_are_one_per_function_with_no_managed_policies(transformed: Template) -> None:
    roles = resources(transformed, "AWS::IAM::Role")
    assert sorted(function_role(transformed, fn) for fn in HANDLERS) == sorted(roles)
    for role in roles.values():
        assert "ManagedPolicyArns" not in role["Properties"]
        (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_no_wildcard_resources_for_data_actions(transformed: Template) -> None:
    known = set(transformed["Resources"]) | set(transformed["Parameters"])
    for role in resources(transformed, "AWS::IAM::Role"):
        for grant in grants(transformed, role):
            assert "*" not in grant.action, f"{role}: wildcard action {grant.action}"
            if not grant.action.startswith(DATA_SERVICES):
                continue
            assert grant.resource != "*", f"{role}: {grant.action} on every resource"
            referenced = set(re.findall(r"\$\{([A-Za-z0-9]+)", grant.resource))
            referenced.add(grant.resource.split(".")[0])
            assert referenced & known, f"{role}: {grant.action} on {grant.resource}, not one of ours"
            assert "*" not in grant.resource.removesuffix("/*"), f"{role}: wildcard in {grant.resource}"


def test_the_customer_io_secret_is_referenced_never_created(transformed: Template) -> None:
    assert not resources(transformed, "AWS::SecretsManager::Secret")
    assert "NoEcho" not in transformed["Parameters"]["CustomerIoTrackSecretName"]
    assert "NoEcho" not in transformed["Parameters"]["CustomerIoAppSecretName"]


def test_parameters(transformed: Template) -> None:
    parameters = transformed["Parameters"]
    assert parameters["Environment"]["AllowedValues"] == ["dev", "prod"]
    assert parameters["CustomerIoRegion"]["AllowedValues"] == ["us", "eu"]
    assert parameters["CustomerIoEnabled"]["AllowedValues"] == ["true", "false"]
    assert set(parameters["LogLevel"]["AllowedValues"]) >= {"DEBUG", "INFO", "WARNING", "ERROR"}
    assert {
        "Environment",
        "CustomerIoRegion",
        "CustomerIoTrackSecretName",
        "CustomerIoAppSecretName",
        "TrackRatePerSecond",
        "AppRatePerSecond",
        "ForgotPasswordMessageId",
        "PasswordUpdatedMessageId",
        "AppIdentifierId",
        "CustomerIoEnabled",
        "LogLevel",
        "UploadRetentionDays",
        "TrackMaxConcurrency",
        "EmailMaxConcurrency",
        "ImportChunkMaxConcurrency",
        "AlarmEmail",
        "ProfileSweepEnabled",
        "ProfileSweepSchedule",
        "ProfileSweepAppRatePerSecond",
        "ProfileSweepCheckAttributes",
        "ProfileSweepMaxDeletes",
        "ProfileSweepOrphanAlarmThreshold",
    } <= set(parameters)


def test_outputs(transformed: Template) -> None:
    outputs = {name: canonical(output["Value"]) for name, output in transformed["Outputs"].items()}
    assert outputs["MemberTableName"] == "Ref:MemberTable"
    assert outputs["MemberTableStreamArn"] == "MemberTable.StreamArn"
    assert outputs["IdempotencyTableName"] == "Ref:IdempotencyTable"
    assert outputs["ImportBucketName"] == "Ref:ImportBucket"
    for queue in resources(transformed, "AWS::SQS::Queue"):
        assert outputs[f"{queue}Url"] == f"Ref:{queue}"


def _dashboard(template: Template) -> dict[str, Any]:
    body = canonical(properties(template, "PipelineDashboard")["DashboardBody"])
    for reference in re.findall(r"\$\{([^}]+)\}", body):
        assert reference.split(".")[0] in set(template["Resources"]) | {"AWS::Region", "AWS::StackName"}, (
            reference
        )
    dashboard: dict[str, Any] = json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", body))
    return dashboard


def test_every_alarm_and_widget_reads_its_own_stacks_service_dimension(transformed: Template) -> None:
    """The functions publish service=<stack name>: a fixed name would mix two stacks in one account."""
    alarm_services = [
        canonical(dimension["Value"])
        for alarm in resources(transformed, "AWS::CloudWatch::Alarm").values()
        for dimension in alarm["Properties"].get("Dimensions", [])
        if dimension["Name"] == "service"
    ]
    widget_services = [
        metric[metric.index("service") + 1]
        for widget in _dashboard(transformed)["widgets"]
        for metric in widget["properties"]["metrics"]
        if "service" in metric
    ]
    assert alarm_services
    assert widget_services
    assert set(alarm_services) == {"Ref:AWS::StackName"}
    assert set(widget_services) == {"AWS::StackName"}  # ${AWS::StackName} in the dashboard's !Sub


def test_dashboard_shows_the_pipeline(transformed: Template) -> None:
    metrics = [
        tuple(part for part in metric if isinstance(part, str))  # without a metric's options ({"stat"})
        for widget in _dashboard(transformed)["widgets"]
        for metric in widget["properties"]["metrics"]
    ]
    pipeline_metrics = {
        "ProfilesUpserted",
        "ProfilesDeleted",
        "EventsTracked",
        "EmailsSent",
        "CustomerIoErrors",
        "CustomerIoRetries",
        "SkippedIntents",
        "RowsMuted",
        "ProfileSweepOrphans",
        "ProfileSweepDeletesQueued",
    }
    assert {("CioSync", name, "service", "AWS::StackName") for name in pipeline_metrics} <= set(metrics)
    queue_depths = {
        m[3] for m in metrics if m[:3] == ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName")
    }
    assert queue_depths == {f"{queue}.QueueName" for queue in resources(transformed, "AWS::SQS::Queue")}
    assert ("AWS/Lambda", "IteratorAge", "FunctionName", "MemberStreamFunction") in metrics


def test_physical_names_are_derived_from_the_stack_name(transformed: Template) -> None:
    """Stacks side by side (staging, personal ones): every fixed name starts with the stack's name."""
    named = {
        "MemberTable": "TableName",
        "IdempotencyTable": "TableName",
        "ImportBucket": "BucketName",
        **dict.fromkeys(resources(transformed, "AWS::SQS::Queue"), "QueueName"),
        **dict.fromkeys(HANDLERS, "FunctionName"),
    }
    for logical_id, name_property in named.items():
        assert canonical(properties(transformed, logical_id)[name_property]).startswith("${AWS::StackName}-")
        assert physical_name(transformed, logical_id, name_property).startswith("cio-sync-dev-"), logical_id


def test_the_reporting_webhook_is_a_function_url_checked_in_code(transformed: Template) -> None:
    """AuthType NONE (Customer.io cannot sign SigV4; the function checks its HMAC), answering within
    Customer.io's 4 s, and the URL is the stack output an operator pastes into Customer.io."""
    url = properties(transformed, "ReportingWebhookFunctionUrl")
    assert transformed["Resources"]["ReportingWebhookFunctionUrl"]["Type"] == "AWS::Lambda::Url"
    assert url["AuthType"] == "NONE"
    assert canonical(url["TargetFunctionArn"]) == "Ref:ReportingWebhookFunction"
    assert properties(transformed, "ReportingWebhookFunction")["Timeout"] <= 4
    output = transformed["Outputs"]["ReportingWebhookUrl"]["Value"]
    assert output == {"Fn::GetAtt": ["ReportingWebhookFunctionUrl", "FunctionUrl"]}
    # Nothing else invokes the receiver: no event source, no other URL.
    assert not [
        name
        for name, resource in resources(transformed, "AWS::Lambda::EventSourceMapping").items()
        if canonical(resource["Properties"]["FunctionName"]) == "Ref:ReportingWebhookFunction"
    ]
    assert list(resources(transformed, "AWS::Lambda::Url")) == ["ReportingWebhookFunctionUrl"]


def test_the_public_receiver_cannot_spend_the_accounts_concurrency(transformed: Template) -> None:
    """A flood on the URL is throttled at its own small reservation (Customer.io backlogs a 429 and
    retries), so member-stream, track and email keep the account's concurrency."""
    reserved = properties(transformed, "ReportingWebhookFunction").get("ReservedConcurrentExecutions")
    assert isinstance(reserved, int)
    assert 1 <= reserved <= 50


def test_the_consent_queues_keep_events_14_days_and_the_member_lane(transformed: Template) -> None:
    queue = properties(transformed, "ConsentQueue")
    assert queue["ContentBasedDeduplication"] is False  # deduplicated on Customer.io's event id
    assert queue["DeduplicationScope"] == "messageGroup"
    for name in ("ConsentQueue", "ConsentDeadLetterQueue", "ConsentQuarantineQueue"):
        assert properties(transformed, name)["MessageRetentionPeriod"] == FOURTEEN_DAYS_S


def test_imports_check_reads_with_the_import_functions_size_limit(transformed: Template) -> None:
    """`cio-sync imports check` accepts exactly the files the import-file function accepts."""
    variables = properties(transformed, "ImportFileFunction")["Environment"]["Variables"]
    assert int(variables["IMPORT_MAX_BYTES"]) == DEFAULT_MAX_BYTES
