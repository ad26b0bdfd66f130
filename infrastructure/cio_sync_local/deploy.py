"""Deploy template.yaml on moto server the way AWS will: SAM transform, then a CloudFormation stack.

`package()` transforms the template with samtranslator and zips the code as `sam package` would (offline);
`deploy()` uploads the code to S3 (where CloudFormation's Lambda functions point), creates the stack on
moto's CloudFormation (or updates it when it exists), and reads everything back through the AWS APIs
(`description.read_stack`).

moto's CloudFormation leaves out a few properties the pipeline depends on; each is added afterwards by a
small step named for what it does, saying why (`LOCAL_STEPS`). Nothing else is created by hand.

The local stack may also run its clocks faster (`time_scale`): SQS keeps the queues' clocks, so their
visibility timeouts and retention are scaled in the template before it is deployed.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from cio_sync_local.clients import aws_client
from cio_sync_local.description import StackContext, StackDescription, read_stack

DEFAULT_TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
CODE_BUCKET = "cio-sync-local-packages"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
DEPLOY_TIMEOUT_S = 120.0
SQS_MIN_RETENTION_S = 60
_FIXED_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


class DeployError(RuntimeError):
    """The stack could not be deployed; the message names the resources that failed and why."""


@dataclass(frozen=True)
class DeployOptions:
    """How this deployment differs from AWS's, on purpose.

    parameters: template parameter values.
    secrets: Secrets Manager secrets the template only references, created or updated: by the template
        parameter that names the secret (e.g. CustomerIoTrackSecretName) -> the secret's value.
    time_scale: queue visibility timeouts and retention are multiplied by this (1 = as the template says).
    visibility_timeout_s: every queue's VisibilityTimeout, after scaling (None: as scaled).
    """

    parameters: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    time_scale: float = 1.0
    visibility_timeout_s: int | None = None


@dataclass(frozen=True)
class Package:
    """What `sam package` would upload and hand CloudFormation: the code zips and the plain template."""

    template: dict[str, Any]
    code: Mapping[str, bytes]  # S3 key in CODE_BUCKET -> zip


def package(
    template_path: Path | str | None = None, options: DeployOptions | None = None, region: str = "us-east-1"
) -> Package:
    """Transform and package the template, offline (no AWS call): the slow half of a deployment.

    samtranslator is imported here, not with this module: `cio-sync local up` starts moto server first
    and packages meanwhile.
    """
    from samtranslator.model.exceptions import InvalidDocumentException  # noqa: PLC0415 - see above

    from cio_sync_local.sam import code_keys, load_template, transform_template  # noqa: PLC0415

    options = options or DeployOptions()
    template_path = Path(template_path) if template_path is not None else DEFAULT_TEMPLATE
    template = load_template(template_path)
    try:
        transformed = transform_template(template, options.parameters, code_bucket=CODE_BUCKET, region=region)
    except InvalidDocumentException as error:
        raise DeployError(f"{template_path} is not a valid SAM template: {error}") from error
    scale_queue_clocks(transformed, options.time_scale, options.visibility_timeout_s)
    drop_outputs_moto_cannot_read(transformed)
    code = {key: _zip_sources(template_path.parent / key) for key in sorted(code_keys(template))}
    return Package(template=transformed, code=code)


def deploy(
    context: StackContext, packaged: Package | Path | str | None = None, options: DeployOptions | None = None
) -> StackDescription:
    """Create or update `context.stack_name` from the (packaged) template; returns what was deployed."""
    options = options or DeployOptions()
    if not isinstance(packaged, Package):
        packaged = package(packaged, options, context.region)

    def client(service: str) -> Any:
        return aws_client(service, context)

    upload_code(client("s3"), packaged.code)
    _create_or_update(client("cloudformation"), context.stack_name, packaged.template, options.parameters)
    resolver = _Resolver(client, context)
    for step in LOCAL_STEPS:
        step(client, packaged.template, resolver, options)
    return read_stack(context, client)


# ---- before the stack ----------------------------------------------------------------------------------


def upload_code(s3: Any, code: Mapping[str, bytes]) -> None:
    """What `sam package` does: each CodeUri folder zipped into S3 (moto checks the object exists).

    The workers run the code from this checkout; the zip holds the same sources so that CodeSha256 and
    an update of the stack follow the code as they would on AWS.
    """
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=CODE_BUCKET)
    for key, body in code.items():
        s3.put_object(Bucket=CODE_BUCKET, Key=key, Body=body)


def _zip_sources(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if folder.is_dir():
            for path in sorted(folder.rglob("*.py")):
                if "__pycache__" not in path.parts:
                    info = zipfile.ZipInfo(str(path.relative_to(folder)), date_time=_FIXED_ZIP_TIME)
                    archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def scale_queue_clocks(template: dict[str, Any], scale: float, visibility_timeout_s: int | None) -> None:
    """Visibility timeouts and retention of every queue, `scale` times as long (SQS keeps those clocks).

    SQS counts both in whole seconds: a visibility timeout stays at least 1 s, retention at least 60 s.
    """
    if scale == 1.0 and visibility_timeout_s is None:
        return
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") != "AWS::SQS::Queue":
            continue
        properties = resource.setdefault("Properties", {})
        visibility = _scaled(properties.get("VisibilityTimeout", 30), scale, minimum=1)
        properties["VisibilityTimeout"] = (
            visibility_timeout_s if visibility_timeout_s is not None else visibility
        )
        properties["MessageRetentionPeriod"] = _scaled(
            properties.get("MessageRetentionPeriod", 345600), scale, minimum=SQS_MIN_RETENTION_S
        )


# Resource types moto's CloudFormation skips (it creates no function URL) and whose attributes it then
# refuses in an output, failing the whole stack. The local stack serves the receiver itself.
MOTO_SKIPS: Final = frozenset({"AWS::Lambda::Url"})


def drop_outputs_moto_cannot_read(template: dict[str, Any]) -> None:
    """Remove the outputs (ReportingWebhookUrl) that read an attribute of a resource moto does not create."""
    resources = template.get("Resources") or {}
    skipped = {name for name, resource in resources.items() if resource.get("Type") in MOTO_SKIPS}
    outputs = template.get("Outputs") or {}
    for name, output in list(outputs.items()):
        value = output.get("Value")
        target = value.get("Fn::GetAtt") if isinstance(value, dict) else None
        if isinstance(target, list) and target and target[0] in skipped:
            del outputs[name]


def _scaled(value: Any, scale: float, *, minimum: int) -> Any:
    if isinstance(value, dict):  # an intrinsic: CloudFormation decides, unscaled
        return value
    return max(minimum, round(int(value) * scale))


# ---- the stack -----------------------------------------------------------------------------------------


def _create_or_update(
    cloudformation: Any, stack_name: str, template: Mapping[str, Any], parameters: Mapping[str, str]
) -> None:
    request = {
        "StackName": stack_name,
        "TemplateBody": json.dumps(template),
        "Parameters": [{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
        "Capabilities": CAPABILITIES,
    }
    try:
        if _exists(cloudformation, stack_name):
            try:
                cloudformation.update_stack(**request)
            except ClientError as error:
                if "No updates are to be performed" not in str(error):
                    raise
        else:
            cloudformation.create_stack(**request)
    except (ClientError, BotoCoreError, ResponseParserError) as error:
        raise DeployError(f"CloudFormation refused stack {stack_name}: {_first_line(error)}") from error
    _wait_until_complete(cloudformation, stack_name)


def _first_line(error: BaseException) -> str:
    return next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)


def _exists(cloudformation: Any, stack_name: str) -> bool:
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return False
        raise
    return bool(stacks) and stacks[0]["StackStatus"] != "DELETE_COMPLETE"


def _wait_until_complete(cloudformation: Any, stack_name: str) -> None:
    deadline = time.monotonic() + DEPLOY_TIMEOUT_S
    while True:
        status = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
        if status.endswith("_COMPLETE") and "ROLLBACK" not in status:
            return
        if status.endswith("_FAILED") or "ROLLBACK" in status or time.monotonic() > deadline:
            raise DeployError(f"stack {stack_name} is {status}: {_failures(cloudformation, stack_name)}")
        time.sleep(0.1)


def _failures(cloudformation: Any, stack_name: str) -> str:
    events = cloudformation.describe_stack_events(StackName=stack_name).get("StackEvents", [])
    failed = [
        f"{event['LogicalResourceId']}: {event.get('ResourceStatusReason', '')}"
        for event in events
        if str(event.get("ResourceStatus", "")).endswith("FAILED")
    ]
    return "; ".join(failed) or "no resource says why"


class _Resolver:
    """Physical names and ARNs of the stack's resources, for the steps below (Ref and GetAtt .Arn)."""

    def __init__(self, client: Callable[[str], Any], context: StackContext) -> None:
        self._client = client
        self._context = context
        self._physical: dict[str, str] | None = None

    def physical_id(self, logical_id: str) -> str:
        if self._physical is None:
            paginator = self._client("cloudformation").get_paginator("list_stack_resources")
            self._physical = {
                summary["LogicalResourceId"]: summary["PhysicalResourceId"]
                for page in paginator.paginate(StackName=self._context.stack_name)
                for summary in page.get("StackResourceSummaries", [])
                if summary.get("PhysicalResourceId")
            }
        return self._physical[logical_id]

    def parameters(self) -> dict[str, str]:
        stack = self._client("cloudformation").describe_stacks(StackName=self._context.stack_name)["Stacks"][
            0
        ]
        return {item["ParameterKey"]: item.get("ParameterValue", "") for item in stack.get("Parameters", [])}

    def queue_arn(self, reference: Any) -> str:
        """The ARN a `{"Fn::GetAtt": [Queue, "Arn"]}` (or a literal ARN) stands for."""
        if isinstance(reference, str):
            return reference
        logical_id = _get_att_target(reference)
        attributes = self._client("sqs").get_queue_attributes(
            QueueUrl=self.physical_id(logical_id), AttributeNames=["QueueArn"]
        )
        return str(attributes["Attributes"]["QueueArn"])


def _get_att_target(reference: Any) -> str:
    if isinstance(reference, dict) and "Fn::GetAtt" in reference:
        target = reference["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else str(target).split(".", 1)[0])
    raise DeployError(f"a local step cannot resolve {reference!r}: use !GetAtt Resource.Arn")


# ---- after the stack: what moto's CloudFormation leaves out ---------------------------------------------

Step = Callable[[Callable[[str], Any], Mapping[str, Any], _Resolver, DeployOptions], None]


def _resources_of(template: Mapping[str, Any], resource_type: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (logical_id, resource.get("Properties") or {})
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == resource_type
    ]


def enable_bucket_versioning(
    client: Callable[[str], Any], template: Mapping[str, Any], resolver: _Resolver, _options: DeployOptions
) -> None:
    """moto's CloudFormation ignores VersioningConfiguration; the import takes its id from the version."""
    for logical_id, properties in _resources_of(template, "AWS::S3::Bucket"):
        status = (properties.get("VersioningConfiguration") or {}).get("Status")
        if status:
            client("s3").put_bucket_versioning(
                Bucket=resolver.physical_id(logical_id), VersioningConfiguration={"Status": status}
            )


def add_bucket_notifications(
    client: Callable[[str], Any], template: Mapping[str, Any], resolver: _Resolver, _options: DeployOptions
) -> None:
    """moto's CloudFormation ignores NotificationConfiguration; uploads must reach the import-file queue."""
    for logical_id, properties in _resources_of(template, "AWS::S3::Bucket"):
        configuration = properties.get("NotificationConfiguration") or {}
        unsupported = sorted(set(configuration) - {"QueueConfigurations"})
        if unsupported:
            raise DeployError(f"{logical_id}: notifications {unsupported} are not played locally")
        queues = []
        for index, item in enumerate(configuration.get("QueueConfigurations") or []):
            rules = ((item.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
            events = item["Event"]
            notification: dict[str, Any] = {
                "Id": f"{logical_id}-{index}",
                "QueueArn": resolver.queue_arn(item["Queue"]),
                "Events": [events] if isinstance(events, str) else list(events),
            }
            if rules:
                notification["Filter"] = {
                    "Key": {"FilterRules": [{"Name": rule["Name"], "Value": rule["Value"]} for rule in rules]}
                }
            queues.append(notification)
        if queues:
            client("s3").put_bucket_notification_configuration(
                Bucket=resolver.physical_id(logical_id),
                NotificationConfiguration={"QueueConfigurations": queues},
            )


def enable_time_to_live(
    client: Callable[[str], Any], template: Mapping[str, Any], resolver: _Resolver, _options: DeployOptions
) -> None:
    """moto's CloudFormation ignores TimeToLiveSpecification; DescribeTimeToLive should say what AWS says."""
    for logical_id, properties in _resources_of(template, "AWS::DynamoDB::Table"):
        ttl = properties.get("TimeToLiveSpecification") or {}
        if ttl.get("Enabled") in (True, "true"):
            client("dynamodb").update_time_to_live(
                TableName=resolver.physical_id(logical_id),
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )


def put_secrets(
    client: Callable[[str], Any], _template: Mapping[str, Any], resolver: _Resolver, options: DeployOptions
) -> None:
    """The template references an existing secret (an operator creates it on AWS); here it is created."""
    if not options.secrets:
        return
    secretsmanager = client("secretsmanager")
    parameters = resolver.parameters()
    for parameter, value in options.secrets.items():
        name = parameters.get(parameter)
        if not name:  # a template without that parameter references no such secret
            continue
        try:
            secretsmanager.create_secret(Name=name, SecretString=value)
        except secretsmanager.exceptions.ResourceExistsException:
            secretsmanager.put_secret_value(SecretId=name, SecretString=value)


LOCAL_STEPS: tuple[Step, ...] = (
    enable_bucket_versioning,
    add_bucket_notifications,
    enable_time_to_live,
    put_secrets,
)
