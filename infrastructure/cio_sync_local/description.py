"""What a deployed stack is, read back through the AWS APIs: never from the template.

`read_stack()` asks CloudFormation for the stack's resources, outputs and parameters, then each service
for its own part: DynamoDB for tables and their streams, SQS for queue attributes and redrive policies,
Lambda for function configurations (handler, timeout, environment, role) and event source mappings with
their settings, IAM for each role's policies, Secrets Manager for secret ARNs. What comes out is plain
data the pump, the workers and the tests use.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

TABLE = "AWS::DynamoDB::Table"
QUEUE = "AWS::SQS::Queue"
BUCKET = "AWS::S3::Bucket"
ROLE = "AWS::IAM::Role"
FUNCTION = "AWS::Lambda::Function"
EVENT_SOURCE_MAPPING = "AWS::Lambda::EventSourceMapping"
# Lambda's defaults for settings a mapping leaves out (GetEventSourceMapping omits some of them).
DEFAULT_BATCH_SIZE = {"dynamodb": 100, "sqs": 10}


class StackNotDeployed(RuntimeError):
    """The stack does not exist, or a resource it lists cannot be read back."""


@dataclass(frozen=True)
class StackContext:
    """Where a stack lives: the AWS endpoint (moto server), its region and account, and its name."""

    aws_endpoint: str
    region: str
    account_id: str
    stack_name: str
    partition: str = "aws"


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    name: str
    arn: str
    key_schema: tuple[tuple[str, str], ...]  # (attribute name, HASH | RANGE)
    stream_arn: str | None
    stream_view_type: str | None
    ttl_attribute: str | None


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    name: str
    arn: str
    url: str
    fifo: bool
    visibility_timeout_s: int
    retention_s: int
    dead_letter_arn: str | None
    max_receive_count: int | None
    kms_key_arn: str | None = None  # a customer managed key for server-side encryption (not SQS-managed)


@dataclass(frozen=True)
class BucketSpec:
    logical_id: str
    name: str
    arn: str


@dataclass(frozen=True)
class RoleSpec:
    logical_id: str
    name: str
    arn: str
    policies: tuple[Mapping[str, Any], ...]  # every identity policy document: inline and attached


SourceKind = Literal["dynamodb", "sqs"]


@dataclass(frozen=True)
class MappingSpec:
    """One event source mapping as the Lambda API describes it, with Lambda's defaults filled in."""

    uuid: str
    name: str  # the SAM event name (the mapping's logical id without its function's)
    function: str  # logical id
    kind: SourceKind
    source: str  # logical id of the table (its stream) or the queue
    source_arn: str
    batch_size: int
    batching_window_s: float
    report_batch_item_failures: bool
    maximum_retry_attempts: int = -1  # streams: -1 = until the record expires
    bisect_on_error: bool = False
    maximum_record_age_s: int = -1
    starting_position: str | None = None
    on_failure: str | None = None  # logical id of the on-failure destination queue
    maximum_concurrency: int | None = None
    enabled: bool = True


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    handler: str
    timeout_s: int
    memory_mb: int
    environment: Mapping[str, str]
    role_arn: str


@dataclass(frozen=True)
class StackDescription:
    context: StackContext
    parameters: Mapping[str, str]
    outputs: Mapping[str, str]
    tables: Mapping[str, TableSpec]
    queues: Mapping[str, QueueSpec]
    buckets: Mapping[str, BucketSpec]
    roles: Mapping[str, RoleSpec]
    functions: Mapping[str, FunctionSpec]
    mappings: tuple[MappingSpec, ...]
    secrets: Mapping[str, str]  # secret name -> ARN (Secrets Manager adds a random suffix)

    def role_of(self, function: str) -> RoleSpec:
        arn = self.functions[function].role_arn
        for role in self.roles.values():
            if role.arn == arn:
                return role
        raise StackNotDeployed(f"{function}'s role {arn} is not a role of stack {self.context.stack_name}")

    def mappings_of(self, function: str) -> tuple[MappingSpec, ...]:
        return tuple(mapping for mapping in self.mappings if mapping.function == function)


def read_stack(context: StackContext, client: Any) -> StackDescription:
    """Describe the deployed stack `context.stack_name`; `client(service)` gives a boto3 client."""
    cloudformation = client("cloudformation")
    stacks = cloudformation.describe_stacks(StackName=context.stack_name).get("Stacks", [])
    if not stacks:
        raise StackNotDeployed(f"stack {context.stack_name} does not exist")
    stack = stacks[0]
    resources = _resources(cloudformation, context.stack_name)

    def of_type(resource_type: str) -> list[tuple[str, str]]:
        return [(lid, pid) for lid, (kind, pid) in resources.items() if kind == resource_type]

    tables = {lid: _table(client("dynamodb"), lid, pid) for lid, pid in of_type(TABLE)}
    queues = {lid: _queue(client("sqs"), lid, pid, context) for lid, pid in of_type(QUEUE)}
    buckets = {
        lid: BucketSpec(lid, pid, f"arn:{context.partition}:s3:::{pid}") for lid, pid in of_type(BUCKET)
    }
    iam = client("iam")
    role_arns = {
        role["RoleName"]: role["Arn"]
        for page in iam.get_paginator("list_roles").paginate()
        for role in page.get("Roles", [])
    }
    roles = {lid: _role(iam, lid, pid, role_arns[pid]) for lid, pid in of_type(ROLE)}
    lambda_ = client("lambda")
    configurations = {
        configuration["FunctionName"]: configuration
        for page in lambda_.get_paginator("list_functions").paginate()
        for configuration in page.get("Functions", [])
    }
    functions = {lid: _function(lid, configurations[pid]) for lid, pid in of_type(FUNCTION)}
    by_arn = {function.arn: function.logical_id for function in functions.values()}
    sources: dict[str, tuple[SourceKind, str]] = {queue.arn: ("sqs", lid) for lid, queue in queues.items()}
    sources.update({t.stream_arn: ("dynamodb", lid) for lid, t in tables.items() if t.stream_arn})
    queue_ids = {queue.arn: lid for lid, queue in queues.items()}
    described = {
        mapping["UUID"]: mapping
        for page in lambda_.get_paginator("list_event_source_mappings").paginate()
        for mapping in page.get("EventSourceMappings", [])
    }
    mappings = tuple(
        _mapping(described[pid], lid, by_arn, sources, queue_ids)
        for lid, pid in of_type(EVENT_SOURCE_MAPPING)
    )
    secrets = {
        str(secret["Name"]): str(secret["ARN"])
        for page in client("secretsmanager").get_paginator("list_secrets").paginate()
        for secret in page.get("SecretList", [])
    }
    return StackDescription(
        context=context,
        parameters={
            item["ParameterKey"]: item.get("ParameterValue", "") for item in stack.get("Parameters", [])
        },
        outputs={item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])},
        tables=tables,
        queues=queues,
        buckets=buckets,
        roles=roles,
        functions=functions,
        mappings=mappings,
        secrets=secrets,
    )


def _resources(cloudformation: Any, stack_name: str) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for summary in page.get("StackResourceSummaries", []):
            physical_id = summary.get("PhysicalResourceId")
            if physical_id:
                found[summary["LogicalResourceId"]] = (summary["ResourceType"], physical_id)
    return found


def _table(dynamodb: Any, logical_id: str, name: str) -> TableSpec:
    table = dynamodb.describe_table(TableName=name)["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
    stream = table.get("StreamSpecification") or {}
    return TableSpec(
        logical_id=logical_id,
        name=name,
        arn=table["TableArn"],
        key_schema=tuple((key["AttributeName"], key["KeyType"]) for key in table["KeySchema"]),
        stream_arn=table.get("LatestStreamArn") if stream.get("StreamEnabled") else None,
        stream_view_type=stream.get("StreamViewType") if stream.get("StreamEnabled") else None,
        ttl_attribute=ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") == "ENABLED" else None,
    )


def _queue(sqs: Any, logical_id: str, url: str, context: StackContext) -> QueueSpec:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    key = attributes.get("KmsMasterKeyId")
    if key and not key.startswith("alias/"):  # an alias is AWS's managed key: no grant of ours involved
        key = (
            key
            if key.startswith("arn:")
            else (f"arn:{context.partition}:kms:{context.region}:{context.account_id}:key/{key}")
        )
    else:
        key = None
    redrive = json.loads(attributes["RedrivePolicy"]) if "RedrivePolicy" in attributes else {}
    arn = attributes["QueueArn"]
    return QueueSpec(
        logical_id=logical_id,
        name=arn.rsplit(":", 1)[1],
        arn=arn,
        url=url,
        fifo=attributes.get("FifoQueue") == "true",
        visibility_timeout_s=int(attributes["VisibilityTimeout"]),
        retention_s=int(attributes["MessageRetentionPeriod"]),
        dead_letter_arn=redrive.get("deadLetterTargetArn"),
        max_receive_count=int(redrive["maxReceiveCount"]) if "maxReceiveCount" in redrive else None,
        kms_key_arn=key,
    )


def policy_document(document: Any) -> dict[str, Any]:
    """A policy document as IAM returns it: JSON, URL-encoded JSON, or already parsed.

    moto's CloudFormation stores an inline role policy as Python's repr of the dict, and GetRolePolicy
    answers with that text; it is read here as the literal it is.
    """
    if isinstance(document, dict):
        return document
    text = unquote(str(document))
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = ast.literal_eval(text)
    if not isinstance(parsed, dict):
        raise StackNotDeployed("a role policy is not a JSON object")
    return parsed


def _role(iam: Any, logical_id: str, name: str, arn: str) -> RoleSpec:
    documents = [
        policy_document(iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"])
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
    ]
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
        documents.append(policy_document(version["PolicyVersion"]["Document"]))
    return RoleSpec(logical_id=logical_id, name=name, arn=arn, policies=tuple(documents))


def _function(logical_id: str, configuration: Mapping[str, Any]) -> FunctionSpec:
    variables = (configuration.get("Environment") or {}).get("Variables") or {}
    return FunctionSpec(
        logical_id=logical_id,
        name=configuration["FunctionName"],
        arn=configuration["FunctionArn"],
        handler=configuration["Handler"],
        timeout_s=int(configuration.get("Timeout", 3)),
        memory_mb=int(configuration.get("MemorySize", 128)),
        # Lambda keeps every variable as a string; moto hands back numbers as the template wrote them.
        environment={key: _text(value) for key, value in variables.items()},
        role_arn=configuration["Role"],
    )


def _mapping(
    raw: Mapping[str, Any],
    logical_id: str,
    functions: Mapping[str, str],
    sources: Mapping[str, tuple[SourceKind, str]],
    queues: Mapping[str, str],
) -> MappingSpec:
    function_arn = str(raw["FunctionArn"])
    function = functions.get(function_arn) or functions.get(function_arn.rsplit(":", 1)[0])
    if function is None:
        raise StackNotDeployed(f"mapping {logical_id} invokes {function_arn}, not a function of this stack")
    source = sources.get(str(raw["EventSourceArn"]))
    if source is None:
        raise StackNotDeployed(
            f"mapping {logical_id} reads {raw['EventSourceArn']}, not a source of this stack"
        )
    kind, source_id = source
    destination = ((raw.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    if destination is not None and destination not in queues:
        raise StackNotDeployed(
            f"mapping {logical_id}: only this stack's SQS queues are played as destinations"
        )
    scaling = raw.get("ScalingConfig") or {}
    return MappingSpec(
        uuid=str(raw["UUID"]),
        name=logical_id.removeprefix(function) or logical_id,
        function=function,
        kind=kind,
        source=source_id,
        source_arn=str(raw["EventSourceArn"]),
        batch_size=int(raw.get("BatchSize") or DEFAULT_BATCH_SIZE[kind]),
        batching_window_s=float(raw.get("MaximumBatchingWindowInSeconds") or 0),
        report_batch_item_failures="ReportBatchItemFailures" in (raw.get("FunctionResponseTypes") or []),
        maximum_retry_attempts=int(raw.get("MaximumRetryAttempts", -1)),
        bisect_on_error=bool(raw.get("BisectBatchOnFunctionError", False)),
        maximum_record_age_s=int(raw.get("MaximumRecordAgeInSeconds", -1)),
        starting_position=raw.get("StartingPosition"),
        on_failure=queues[destination] if destination is not None else None,
        maximum_concurrency=int(scaling["MaximumConcurrency"]) if "MaximumConcurrency" in scaling else None,
        enabled=raw.get("State", "Enabled") in {"Enabled", "Enabling", "Creating"},
    )


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
