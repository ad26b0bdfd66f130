"""What template.yaml declares, evaluated for one machine: the local stack is derived from it, never retyped.

The template is read with a YAML loader that understands CloudFormation's short tags, and the intrinsic
functions the template uses (Ref, GetAtt, Sub, If, Equals, Not, And, Or, FindInMap, Join, Select, Split)
are evaluated against parameter values plus a local account, region and AWS endpoint. What comes out is
plain data: tables, queues, buckets and functions with their event source mappings and environment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

DEFAULT_TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account
LOCAL_REGION = "us-east-1"
NO_VALUE = object()  # AWS::NoValue: the key it sits under is dropped

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
LAMBDA_FUNCTION = "AWS::Lambda::Function"
EVENT_SOURCE_MAPPING = "AWS::Lambda::EventSourceMapping"
TABLE = "AWS::DynamoDB::Table"
QUEUE = "AWS::SQS::Queue"
BUCKET = "AWS::S3::Bucket"
FUNCTION_TYPES = (SERVERLESS_FUNCTION, LAMBDA_FUNCTION)
# Schedules are not played locally: the function exists (its environment is set) and is invoked by hand.
SCHEDULE_EVENTS = frozenset({"Schedule", "ScheduleV2"})

# SQS CreateQueue attributes taken from AWS::SQS::Queue properties as they are (all strings on the wire).
QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "SqsManagedSseEnabled",
)


class TemplateError(ValueError):
    """The template uses something the local stack cannot reproduce, or is inconsistent."""


# ---- loading -----------------------------------------------------------------------------------------


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader plus `!Ref`, `!GetAtt`, `!Sub`, ...: each short tag becomes its long JSON form."""


def _short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node for !{suffix}", node.start_mark)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _short_tag)


def load_template(path: Path | str | None = None) -> dict[str, Any]:
    """The template as plain dicts and lists (short tags turned into their `Fn::` form)."""
    source = Path(path) if path is not None else DEFAULT_TEMPLATE
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise TemplateError(f"template not found: {source}") from error
    return parse_template(text, str(source))


def parse_template(text: str, source: str = "the template") -> dict[str, Any]:
    try:
        document = yaml.load(text, Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        raise TemplateError(f"{source} is not valid YAML: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{source} has no Resources section")
    return document


# ---- the derived description -------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalContext:
    """Where the stack is being played: the values of the pseudo parameters and the AWS endpoint."""

    aws_endpoint: str
    region: str = LOCAL_REGION
    account_id: str = LOCAL_ACCOUNT_ID
    stack_name: str = "cio-sync-local"
    partition: str = "aws"


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    name: str
    arn: str
    key_schema: tuple[tuple[str, str], ...]  # (attribute name, HASH | RANGE)
    attribute_types: tuple[tuple[str, str], ...]  # (attribute name, S | N | B)
    billing_mode: str
    stream_view_type: str | None
    ttl_attribute: str | None
    global_secondary_indexes: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    name: str
    arn: str
    url: str
    fifo: bool
    visibility_timeout_s: int
    attributes: Mapping[str, str]  # CreateQueue attributes other than RedrivePolicy
    dead_letter_queue: str | None  # logical id of the redrive target
    max_receive_count: int | None


@dataclass(frozen=True)
class QueueNotification:
    """An S3 event notification to a queue, with its key filter."""

    queue: str  # logical id
    events: tuple[str, ...]
    prefix: str | None
    suffix: str | None


@dataclass(frozen=True)
class BucketSpec:
    logical_id: str
    name: str
    arn: str
    versioned: bool
    notifications: tuple[QueueNotification, ...]


SourceKind = Literal["dynamodb", "sqs"]


@dataclass(frozen=True)
class MappingSpec:
    """One event source mapping, with Lambda's defaults filled in where the template leaves a setting out."""

    name: str  # the SAM event name, or the logical id of an AWS::Lambda::EventSourceMapping
    function: str  # logical id
    kind: SourceKind
    source: str  # logical id of the table (its stream) or the queue
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
    mappings: tuple[MappingSpec, ...]


@dataclass(frozen=True)
class StackDescription:
    context: LocalContext
    parameters: Mapping[str, str]
    tables: Mapping[str, TableSpec]
    queues: Mapping[str, QueueSpec]
    buckets: Mapping[str, BucketSpec]
    functions: Mapping[str, FunctionSpec]
    mappings: tuple[MappingSpec, ...] = field(default=())

    def environment(self) -> dict[str, str]:
        """Every function's variables in one mapping: in-process handlers share one `os.environ`.

        Two functions giving one variable different values cannot be played in one process; that is an
        error rather than a silent pick.
        """
        merged: dict[str, str] = {}
        owner: dict[str, str] = {}
        for function in self.functions.values():
            for name, value in function.environment.items():
                if name in merged and merged[name] != value:
                    raise TemplateError(
                        f"environment variable {name} differs between {owner[name]} and {function.logical_id}"
                    )
                merged[name] = value
                owner.setdefault(name, function.logical_id)
        return merged

    def queue_for_url(self, url: str) -> QueueSpec | None:
        return next((queue for queue in self.queues.values() if queue.url == url), None)


# ---- evaluation --------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """How CloudFormation hands a scalar to a string property (environment variables, attributes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (str, int, float)):
        return str(value)
    raise TemplateError(f"expected a scalar, got {type(value).__name__}")


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return _text(value).strip().lower() == "true"


_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class _Evaluator:
    """Evaluates intrinsic functions; physical names are resolved lazily, on first use."""

    def __init__(self, template: Mapping[str, Any], context: LocalContext, parameters: Mapping[str, str]):
        self.template = template
        self.context = context
        self.resources: dict[str, dict[str, Any]] = dict(template.get("Resources") or {})
        self.parameters = self._parameter_values(parameters)
        self._conditions: dict[str, bool] = {}
        self._names: dict[str, str] = {}
        self._naming: set[str] = set()

    # -- parameters and conditions

    def _parameter_values(self, overrides: Mapping[str, str]) -> dict[str, str]:
        declared: Mapping[str, Any] = self.template.get("Parameters") or {}
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise TemplateError(f"unknown template parameters: {', '.join(unknown)}")
        values: dict[str, str] = {}
        for name, spec in declared.items():
            if name in overrides:
                value = _text(overrides[name])
            elif "Default" in spec:
                value = _text(spec["Default"])
            else:
                raise TemplateError(f"template parameter {name} has no default; pass a value")
            allowed = spec.get("AllowedValues")
            if allowed is not None and value not in [_text(item) for item in allowed]:
                raise TemplateError(f"template parameter {name} must be one of {allowed}")
            values[name] = value
        return values

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            declared = (self.template.get("Conditions") or {}).get(name)
            if declared is None:
                raise TemplateError(f"unknown condition {name}")
            self._conditions[name] = self._truth(declared)
        return self._conditions[name]

    def _truth(self, node: Any) -> bool:
        if isinstance(node, bool):
            return node
        if isinstance(node, dict) and len(node) == 1:
            ((function, argument),) = node.items()
            if function == "Condition":
                return self.condition(argument)
            if function == "Fn::Equals":
                left, right = (self.value(item) for item in argument)
                return _text(left) == _text(right)
            if function == "Fn::Not":
                return not self._truth(argument[0])
            if function == "Fn::And":
                return all(self._truth(item) for item in argument)
            if function == "Fn::Or":
                return any(self._truth(item) for item in argument)
        raise TemplateError(f"cannot evaluate condition {node!r}")

    def included(self, logical_id: str) -> bool:
        condition = self.resources[logical_id].get("Condition")
        return condition is None or self.condition(condition)

    # -- values

    def value(self, node: Any) -> Any:
        """Evaluate a template fragment; `AWS::NoValue` is NO_VALUE, and dropped inside containers."""
        if isinstance(node, list):
            items = [self.value(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Condition":
                return self.condition(argument)
            if key.startswith("Fn::"):
                return self._function(key[4:], argument)
        evaluated = {key: self.value(item) for key, item in node.items()}
        return {key: item for key, item in evaluated.items() if item is not NO_VALUE}

    def _function(self, name: str, argument: Any) -> Any:
        functions: dict[str, Callable[[Any], Any]] = {
            "GetAtt": self._get_att_function,
            "Sub": self._sub,
            "If": self._if,
            "Equals": lambda value: self._truth({"Fn::Equals": value}),
            "Not": lambda value: self._truth({"Fn::Not": value}),
            "And": lambda value: self._truth({"Fn::And": value}),
            "Or": lambda value: self._truth({"Fn::Or": value}),
            "Join": self._join,
            "Select": lambda value: self.value(value[1])[int(self.value(value[0]))],
            "Split": lambda value: _text(self.value(value[1])).split(self.value(value[0])),
            "FindInMap": self._find_in_map,
            "ToJsonString": lambda value: json.dumps(self.value(value), separators=(",", ":")),
        }
        evaluate = functions.get(name)
        if evaluate is None:
            raise TemplateError(f"intrinsic function Fn::{name} is not supported by the local stack")
        return evaluate(argument)

    def _get_att_function(self, argument: Any) -> Any:
        resource, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
        return self.get_att(self.value(resource), self.value(attribute))

    def _if(self, argument: Any) -> Any:
        condition, when_true, when_false = argument
        return self.value(when_true if self.condition(condition) else when_false)

    def _join(self, argument: Any) -> str:
        separator, items = argument
        return str(self.value(separator)).join(_text(item) for item in self.value(items))

    def _find_in_map(self, argument: Any) -> Any:
        mapping, top, second = (self.value(item) for item in argument)
        try:
            return self.template["Mappings"][mapping][top][second]
        except KeyError as error:
            raise TemplateError(f"FindInMap {mapping}/{top}/{second} is not in Mappings") from error

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], {key: self.value(item) for key, item in argument[1].items()}
        else:
            text, variables = argument, {}

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                return _text(variables[expression])
            if "." in expression and not expression.startswith("AWS::"):
                resource, attribute = expression.split(".", 1)
                return _text(self.get_att(resource, attribute))
            return _text(self.ref(expression))

        return _SUB_VARIABLE.sub(replace, text)

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::AccountId": self.context.account_id,
            "AWS::Region": self.context.region,
            "AWS::StackName": self.context.stack_name,
            "AWS::Partition": self.context.partition,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": (
                f"arn:{self.context.partition}:cloudformation:{self.context.region}:{self.context.account_id}"
                f":stack/{self.context.stack_name}/local"
            ),
        }
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        resource_type = self._type(name)
        if resource_type == QUEUE:
            return self.queue_url(name)
        return self.name(name)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        resource_type = self._type(logical_id)
        arn_of = {
            TABLE: lambda: self.arn("dynamodb", f"table/{self.name(logical_id)}"),
            QUEUE: lambda: self.arn("sqs", self.name(logical_id)),
            BUCKET: lambda: f"arn:{self.context.partition}:s3:::{self.name(logical_id)}",
            SERVERLESS_FUNCTION: lambda: self.arn("lambda", f"function:{self.name(logical_id)}"),
            LAMBDA_FUNCTION: lambda: self.arn("lambda", f"function:{self.name(logical_id)}"),
        }
        if attribute == "Arn" and resource_type in arn_of:
            return arn_of[resource_type]()
        if resource_type == QUEUE and attribute == "QueueName":
            return self.name(logical_id)
        if resource_type == QUEUE and attribute == "QueueUrl":
            return self.queue_url(logical_id)
        raise TemplateError(f"GetAtt {logical_id}.{attribute} has no local value")

    def arn(self, service: str, resource: str) -> str:
        context = self.context
        return f"arn:{context.partition}:{service}:{context.region}:{context.account_id}:{resource}"

    def queue_url(self, logical_id: str) -> str:
        return f"{self.context.aws_endpoint.rstrip('/')}/{self.context.account_id}/{self.name(logical_id)}"

    def _type(self, logical_id: str) -> str:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"reference to unknown resource or parameter {logical_id}")
        return str(resource.get("Type"))

    def properties(self, logical_id: str) -> dict[str, Any]:
        return dict(self.resources[logical_id].get("Properties") or {})

    def name(self, logical_id: str) -> str:
        """The physical name: the template's own name property, else `<stack>-<LogicalId>` as CFN would."""
        if logical_id in self._names:
            return self._names[logical_id]
        if logical_id in self._naming:
            raise TemplateError(f"the name of {logical_id} refers to itself")
        self._naming.add(logical_id)
        resource_type = self._type(logical_id)
        name_property = {
            TABLE: "TableName",
            QUEUE: "QueueName",
            BUCKET: "BucketName",
            SERVERLESS_FUNCTION: "FunctionName",
            LAMBDA_FUNCTION: "FunctionName",
        }.get(resource_type)
        properties = self.properties(logical_id)
        if name_property and name_property in properties:
            name = _text(self.value(properties[name_property]))
        else:
            name = f"{self.context.stack_name}-{logical_id}"
            if resource_type == QUEUE and _flag(self.value(properties.get("FifoQueue", False))):
                name += ".fifo"
            if resource_type == BUCKET:
                name = name.lower()
        self._names[logical_id] = name
        self._naming.discard(logical_id)
        return name

    def referenced_resource(self, node: Any, what: str) -> str:
        """The logical id an ARN-valued property points at (`!GetAtt X.Arn`, `!GetAtt X.StreamArn`, ...)."""
        if isinstance(node, dict) and len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Fn::GetAtt":
                resource = argument[0] if isinstance(argument, list) else argument.split(".", 1)[0]
                if resource in self.resources:
                    return str(resource)
            if key == "Ref" and argument in self.resources:
                return str(argument)
            if key == "Fn::Sub" and isinstance(argument, str):
                match = re.fullmatch(r"\$\{([A-Za-z0-9]+)\.(Arn|StreamArn)\}", argument)
                if match and match.group(1) in self.resources:
                    return match.group(1)
        raise TemplateError(f"{what} must name a resource of this template (e.g. !GetAtt X.Arn)")


# ---- derivation ---------------------------------------------------------------------------------------


def _table(evaluator: _Evaluator, logical_id: str) -> TableSpec:
    properties = evaluator.value(evaluator.properties(logical_id))
    stream = properties.get("StreamSpecification") or {}
    ttl = properties.get("TimeToLiveSpecification") or {}
    return TableSpec(
        logical_id=logical_id,
        name=evaluator.name(logical_id),
        arn=evaluator.get_att(logical_id, "Arn"),
        key_schema=tuple((key["AttributeName"], key["KeyType"]) for key in properties["KeySchema"]),
        attribute_types=tuple(
            (item["AttributeName"], item["AttributeType"]) for item in properties["AttributeDefinitions"]
        ),
        billing_mode=str(properties.get("BillingMode", "PROVISIONED")),
        stream_view_type=stream.get("StreamViewType") if stream.get("StreamEnabled", True) else None,
        ttl_attribute=ttl.get("AttributeName") if _flag(ttl.get("Enabled", False)) else None,
        global_secondary_indexes=tuple(properties.get("GlobalSecondaryIndexes") or ()),
    )


def _queue(evaluator: _Evaluator, logical_id: str) -> QueueSpec:
    raw = evaluator.properties(logical_id)
    properties = evaluator.value({key: item for key, item in raw.items() if key != "RedrivePolicy"})
    attributes = {name: _text(properties[name]) for name in QUEUE_ATTRIBUTES if name in properties}
    fifo = _flag(properties.get("FifoQueue", False))
    dead_letter: str | None = None
    max_receive_count: int | None = None
    redrive = raw.get("RedrivePolicy")
    if redrive is not None:
        dead_letter = evaluator.referenced_resource(
            redrive.get("deadLetterTargetArn"), f"{logical_id} redrive target"
        )
        max_receive_count = int(evaluator.value(redrive["maxReceiveCount"]))
    return QueueSpec(
        logical_id=logical_id,
        name=evaluator.name(logical_id),
        arn=evaluator.get_att(logical_id, "Arn"),
        url=evaluator.queue_url(logical_id),
        fifo=fifo,
        visibility_timeout_s=int(attributes.get("VisibilityTimeout", "30")),
        attributes=attributes,
        dead_letter_queue=dead_letter,
        max_receive_count=max_receive_count,
    )


def _bucket(evaluator: _Evaluator, logical_id: str) -> BucketSpec:
    raw = evaluator.properties(logical_id)
    versioning = evaluator.value(raw.get("VersioningConfiguration") or {})
    notifications: list[QueueNotification] = []
    configuration = raw.get("NotificationConfiguration") or {}
    unsupported = sorted(set(configuration) - {"QueueConfigurations"})
    if unsupported:
        raise TemplateError(f"{logical_id}: notifications {unsupported} are not played locally")
    for item in configuration.get("QueueConfigurations") or []:
        rules = evaluator.value(((item.get("Filter") or {}).get("S3Key") or {}).get("Rules") or [])
        by_name = {str(rule["Name"]).lower(): _text(rule["Value"]) for rule in rules}
        events = evaluator.value(item["Event"])
        notifications.append(
            QueueNotification(
                queue=evaluator.referenced_resource(item["Queue"], f"{logical_id} notification queue"),
                events=(events,) if isinstance(events, str) else tuple(events),
                prefix=by_name.get("prefix"),
                suffix=by_name.get("suffix"),
            )
        )
    return BucketSpec(
        logical_id=logical_id,
        name=evaluator.name(logical_id),
        arn=evaluator.get_att(logical_id, "Arn"),
        versioned=versioning.get("Status") == "Enabled",
        notifications=tuple(notifications),
    )


def _mapping(
    evaluator: _Evaluator, function: str, name: str, kind: str, raw: Mapping[str, Any]
) -> MappingSpec:
    if "FilterCriteria" in raw:
        raise TemplateError(f"{function}/{name}: FilterCriteria is not played by the local pump")
    if kind in {"dynamodb", "DynamoDB"}:
        source = evaluator.referenced_resource(
            raw.get("Stream") or raw.get("EventSourceArn"), f"{name} stream"
        )
        source_kind: SourceKind = "dynamodb"
    elif kind in {"sqs", "SQS"}:
        source = evaluator.referenced_resource(raw.get("Queue") or raw.get("EventSourceArn"), f"{name} queue")
        source_kind = "sqs"
    else:
        raise TemplateError(f"{function}/{name}: event type {kind} is not played by the local pump")
    references = {"DestinationConfig", "Stream", "Queue", "EventSourceArn", "FunctionName"}
    settings = evaluator.value({key: item for key, item in raw.items() if key not in references})
    on_failure: str | None = None
    destination = (raw.get("DestinationConfig") or {}).get("OnFailure")
    if destination is not None:
        on_failure = evaluator.referenced_resource(
            destination.get("Destination"), f"{name} on-failure destination"
        )
        if evaluator._type(on_failure) != QUEUE:
            raise TemplateError(f"{function}/{name}: only SQS on-failure destinations are played locally")
    scaling = settings.get("ScalingConfig") or {}
    default_batch = 100 if source_kind == "dynamodb" else 10
    return MappingSpec(
        name=name,
        function=function,
        kind=source_kind,
        source=source,
        batch_size=int(settings.get("BatchSize", default_batch)),
        batching_window_s=float(settings.get("MaximumBatchingWindowInSeconds", 0)),
        report_batch_item_failures="ReportBatchItemFailures" in (settings.get("FunctionResponseTypes") or []),
        maximum_retry_attempts=int(settings.get("MaximumRetryAttempts", -1)),
        bisect_on_error=_flag(settings.get("BisectBatchOnFunctionError", False)),
        maximum_record_age_s=int(settings.get("MaximumRecordAgeInSeconds", -1)),
        starting_position=settings.get("StartingPosition"),
        on_failure=on_failure,
        maximum_concurrency=int(scaling["MaximumConcurrency"]) if "MaximumConcurrency" in scaling else None,
        enabled=_flag(settings.get("Enabled", True)),
    )


def _function(evaluator: _Evaluator, logical_id: str, globals_: Mapping[str, Any]) -> FunctionSpec:
    raw = evaluator.properties(logical_id)
    is_sam = evaluator.resources[logical_id]["Type"] == SERVERLESS_FUNCTION
    shared = globals_ if is_sam else {}
    variables: dict[str, Any] = dict(((shared.get("Environment") or {}).get("Variables")) or {})
    variables.update(((raw.get("Environment") or {}).get("Variables")) or {})
    environment = {
        key: _text(value) for key, value in evaluator.value(variables).items() if value is not NO_VALUE
    }
    handler = raw.get("Handler", shared.get("Handler"))
    if not handler:
        raise TemplateError(f"{logical_id} has no Handler")
    mappings: list[MappingSpec] = []
    if is_sam:
        for event_name, event in (raw.get("Events") or {}).items():
            event_type = event.get("Type")
            if event_type in {"DynamoDB", "SQS"}:
                mappings.append(
                    _mapping(evaluator, logical_id, event_name, event_type, event.get("Properties") or {})
                )
            elif event_type in SCHEDULE_EVENTS:
                continue  # nothing polls a schedule: tests and `cio-sync reconcile` invoke such a function
            else:
                raise TemplateError(
                    f"{logical_id}/{event_name}: event type {event_type} is not played locally"
                )
    return FunctionSpec(
        logical_id=logical_id,
        name=evaluator.name(logical_id),
        arn=evaluator.get_att(logical_id, "Arn"),
        handler=str(evaluator.value(handler)),
        timeout_s=int(evaluator.value(raw.get("Timeout", shared.get("Timeout", 3)))),
        memory_mb=int(evaluator.value(raw.get("MemorySize", shared.get("MemorySize", 128)))),
        environment=environment,
        mappings=tuple(mappings),
    )


def _standalone_mapping(evaluator: _Evaluator, logical_id: str) -> MappingSpec:
    raw = evaluator.properties(logical_id)
    function = evaluator.referenced_resource(raw.get("FunctionName"), f"{logical_id} function")
    source = evaluator.referenced_resource(raw.get("EventSourceArn"), f"{logical_id} source")
    kind = "dynamodb" if evaluator._type(source) == TABLE else "sqs"
    return _mapping(evaluator, function, logical_id, kind, raw)


def describe(
    template: Mapping[str, Any],
    context: LocalContext,
    parameters: Mapping[str, str] | None = None,
) -> StackDescription:
    """Evaluate the template for `context`: every table, queue, bucket, function and mapping."""
    evaluator = _Evaluator(template, context, parameters or {})
    by_type: dict[str, list[str]] = {}
    for logical_id, resource in evaluator.resources.items():
        if evaluator.included(logical_id):
            by_type.setdefault(str(resource.get("Type")), []).append(logical_id)
    globals_ = (template.get("Globals") or {}).get("Function") or {}
    functions = {
        logical_id: _function(evaluator, logical_id, globals_)
        for resource_type in FUNCTION_TYPES
        for logical_id in by_type.get(resource_type, [])
    }
    standalone = [
        _standalone_mapping(evaluator, logical_id) for logical_id in by_type.get(EVENT_SOURCE_MAPPING, [])
    ]
    for mapping in standalone:
        if mapping.function not in functions:
            raise TemplateError(f"{mapping.name} maps to {mapping.function}, which is not a function here")
        owner = functions[mapping.function]
        functions[mapping.function] = replace(owner, mappings=(*owner.mappings, mapping))
    description = StackDescription(
        context=context,
        parameters=dict(evaluator.parameters),
        tables={logical_id: _table(evaluator, logical_id) for logical_id in by_type.get(TABLE, [])},
        queues={logical_id: _queue(evaluator, logical_id) for logical_id in by_type.get(QUEUE, [])},
        buckets={logical_id: _bucket(evaluator, logical_id) for logical_id in by_type.get(BUCKET, [])},
        functions=functions,
        mappings=tuple(mapping for function in functions.values() for mapping in function.mappings),
    )
    _check_references(description)
    return description


def _check_references(description: StackDescription) -> None:
    for mapping in description.mappings:
        sources = description.tables if mapping.kind == "dynamodb" else description.queues
        if mapping.source not in sources:
            raise TemplateError(
                f"{mapping.function}/{mapping.name}: {mapping.source} is not a {mapping.kind} source"
            )
        if mapping.kind == "dynamodb" and description.tables[mapping.source].stream_view_type is None:
            raise TemplateError(f"{mapping.function}/{mapping.name}: {mapping.source} has no stream")
    for bucket in description.buckets.values():
        for notification in bucket.notifications:
            if notification.queue not in description.queues:
                raise TemplateError(
                    f"{bucket.logical_id} notifies {notification.queue}, which is not a queue"
                )


def describe_file(
    context: LocalContext,
    parameters: Mapping[str, str] | None = None,
    path: Path | str | None = None,
) -> StackDescription:
    return describe(load_template(path), context, parameters)
