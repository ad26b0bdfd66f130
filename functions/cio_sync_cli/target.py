"""Where the operator commands act: one resolution shared by every command group.

In this order:
1. `--stack NAME` (or CIO_SYNC_STACK): a deployed CloudFormation stack. Its Outputs name the resources and
   nothing else does, so a variable left over in the shell cannot point one command at two stacks. The
   running local stack is one too (`.local/stack.json` names it): without AWS_ENDPOINT_URL, a NAME that
   is the local stack's is read from its moto server, with local credentials.
2. AWS_ENDPOINT_URL is set: the environment names the resources (the functions' own variables).
3. A local stack file exists (cio_sync_cli.stack_file: CIO_SYNC_STACK_FILE, else `.local/stack.json` here
   or in a parent directory): the running local stack (moto server), with local credentials; a resource
   variable that is set explicitly still wins over the file.
4. Otherwise the environment alone, against AWS itself.
A command that needs a resource nobody named fails with one line saying how to name it. Credentials and
region come from the usual AWS chain, except for the local stack.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)
from pynamodb.exceptions import PynamoDBException

from cio_sync_cli import options
from cio_sync_cli import stack_file as stack_files
from cio_sync_cli.errors import CommandError
from cio_sync_cli.member_writes import MemberAdmin
from cio_sync_cli.stack_file import STACK_FILE, find_stack_file

# Where doctor_cli and the tests import them from.
STACK_VARIABLE: Final = options.STACK_VARIABLE
read_stack_file = stack_files.read_stack_file

# moto accepts any credentials; the local stack's functions use these too (not secrets).
LOCAL_CREDENTIALS: Final = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
HOW_TO_TARGET: Final = "pass --stack NAME (or set CIO_SYNC_STACK), or start the local stack (make run)"
_CLIENT_CONFIG: Final = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=20
)

Source = Literal["cloudformation", "environment", "local"]


@dataclass(frozen=True)
class Resource:
    """How each kind of target names one resource: a CloudFormation output and an environment variable."""

    output: str
    variable: str


MEMBER_TABLE: Final = Resource("MemberTableName", "MEMBER_TABLE_NAME")
IMPORT_BUCKET: Final = Resource("ImportBucketName", "IMPORT_BUCKET")
# Keyed by the template's logical ids, as `.local/stack.json` keys its queues. The variables of the
# import-file queue and of the import DLQs are the CLI's own (no function needs them).
QUEUES: Final[Mapping[str, Resource]] = {
    "TrackQueue": Resource("TrackQueueUrl", "TRACK_QUEUE_URL"),
    "TrackDeadLetterQueue": Resource("TrackDeadLetterQueueUrl", "TRACK_DEAD_LETTER_QUEUE_URL"),
    "EmailQueue": Resource("EmailQueueUrl", "EMAIL_QUEUE_URL"),
    "EmailDeadLetterQueue": Resource("EmailDeadLetterQueueUrl", "EMAIL_DEAD_LETTER_QUEUE_URL"),
    "ImportFileQueue": Resource("ImportFileQueueUrl", "IMPORT_FILE_QUEUE_URL"),
    "ImportFileDeadLetterQueue": Resource(
        "ImportFileDeadLetterQueueUrl", "IMPORT_FILE_DEAD_LETTER_QUEUE_URL"
    ),
    "ImportChunkQueue": Resource("ImportChunkQueueUrl", "IMPORT_CHUNK_QUEUE_URL"),
    "ImportChunkDeadLetterQueue": Resource(
        "ImportChunkDeadLetterQueueUrl", "IMPORT_CHUNK_DEAD_LETTER_QUEUE_URL"
    ),
    "StreamFailureQueue": Resource("StreamFailureQueueUrl", "STREAM_FAILURE_QUEUE_URL"),
    "ConsentQueue": Resource("ConsentQueueUrl", "CONSENT_QUEUE_URL"),
    "ConsentDeadLetterQueue": Resource("ConsentDeadLetterQueueUrl", "CONSENT_DEAD_LETTER_QUEUE_URL"),
    "ConsentQuarantineQueue": Resource("ConsentQuarantineQueueUrl", "CONSENT_QUARANTINE_QUEUE_URL"),
}


@dataclass(frozen=True)
class CloudFormationStack:
    outputs: Mapping[str, str]
    parameters: Mapping[str, str]


StackReader = Callable[[str, str | None, str | None], CloudFormationStack]


class _Clients:
    """One boto3 session per target and one client per service: each new session parses botocore's
    endpoint and service files again (a tenth of a second of CPU a client), and a client reused keeps its
    connections open for the command's next request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # a boto3 session is not thread-safe; its clients are
        self._session: boto3.session.Session | None = None
        self._made: dict[str, Any] = {}

    def get(self, service: str, options: Mapping[str, Any]) -> Any:
        with self._lock:
            if service not in self._made:
                if self._session is None:
                    self._session = boto3.session.Session()
                self._made[service] = self._session.client(service, **options)
            return self._made[service]


@dataclass(frozen=True)
class OpsTarget:
    """The resources one command acts on, and how to reach them."""

    source: Source
    label: str  # for humans: which stack, or "environment"
    endpoint_url: str | None = None
    region: str | None = None
    member_table: str | None = None
    bucket: str | None = None
    queue_urls: Mapping[str, str] = field(default_factory=dict)
    local_credentials: bool = False
    # How the functions are configured, for commands that act as one of them (reconcile's profile sweep):
    # a deployed stack's Parameters, or the functions' variables (the local stack's, the environment's).
    stack_parameters: Mapping[str, str] = field(default_factory=dict)
    variables: Mapping[str, str] = field(default_factory=dict)
    _clients: _Clients = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_clients", _Clients())

    def describe(self) -> str:
        where = self.endpoint_url or (f"AWS {self.region}" if self.region else "AWS")
        return f"{self.label} ({where})"

    def client(self, service: str) -> Any:
        options: dict[str, Any] = {
            "endpoint_url": self.endpoint_url,
            "region_name": self.region,
            "config": _CLIENT_CONFIG,
        }
        if self.local_credentials:
            options.update(LOCAL_CREDENTIALS)
        return self._clients.get(service, options)

    def require_member_table(self) -> str:
        if not self.member_table:
            raise CommandError(f"no member table: set {MEMBER_TABLE.variable}, or {HOW_TO_TARGET}")
        return self.member_table

    def queue_url(self, logical_id: str) -> str:
        url = self.queue_urls.get(logical_id)
        if not url:
            variable = QUEUES[logical_id].variable
            raise CommandError(f"no {logical_id} for {self.label}: set {variable}, or {HOW_TO_TARGET}")
        return url

    def members(self) -> MemberAdmin:
        table = self.require_member_table()
        # pynamodb would default to us-east-1; boto3's session also reads the profile's region.
        region = self.region or boto3.session.Session().region_name
        if not region:
            raise CommandError(explain_aws_error(NoRegionError(), self.endpoint_url))
        repository = MemberAdmin(table, endpoint_url=self.endpoint_url, region=region)
        if self.local_credentials:
            # pynamodb reads credentials from the model's Meta when it first connects.
            meta: Any = repository.model.Meta
            meta.aws_access_key_id = LOCAL_CREDENTIALS["aws_access_key_id"]
            meta.aws_secret_access_key = LOCAL_CREDENTIALS["aws_secret_access_key"]
        return repository


def resolve_target(
    stack: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stack_file: Path | None = None,
    read_stack: StackReader | None = None,
) -> OpsTarget:
    """The target of a command (see the module docstring for the order)."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    if stack_file is None:
        stack_file = find_stack_file(env) or STACK_FILE
    endpoint = _text(env, "AWS_ENDPOINT_URL")
    region = _text(env, "AWS_REGION") or _text(env, "AWS_DEFAULT_REGION")
    stack_name = stack or _text(env, STACK_VARIABLE)
    if stack_name:
        local_stack = None if endpoint else _local_stack_named(stack_file, stack_name)
        local_credentials = False
        if local_stack is not None:
            endpoint = _text(local_stack, "aws_endpoint")
            region = region or _text(local_stack, "region")
            local_credentials = not _text(env, "AWS_ACCESS_KEY_ID")
        if read_stack is not None:
            found = read_stack(stack_name, endpoint, region)
        else:
            found = describe_cloudformation_stack(
                stack_name, endpoint, region, local_credentials=local_credentials
            )
        return OpsTarget(
            source="cloudformation",
            label=f"stack {stack_name}" + (" (local)" if local_stack is not None else ""),
            endpoint_url=endpoint,
            region=region,
            local_credentials=local_credentials,
            member_table=found.outputs.get(MEMBER_TABLE.output) or None,
            bucket=found.outputs.get(IMPORT_BUCKET.output) or None,
            queue_urls={
                logical_id: url
                for logical_id, resource in QUEUES.items()
                if (url := found.outputs.get(resource.output))
            },
            stack_parameters=dict(found.parameters),
        )
    local = None if endpoint else read_stack_file(stack_file)
    if local is None:
        return _from_environment(
            env, source="environment", label="environment", endpoint=endpoint, region=region, base={}
        )
    local_endpoint = _text(local, "aws_endpoint")
    if local_endpoint is None:
        raise CommandError(f"{stack_file} names no aws_endpoint: restart the local stack")
    queues = local.get("queues")
    base: dict[str, Any] = {
        MEMBER_TABLE.variable: local.get("member_table"),
        IMPORT_BUCKET.variable: local.get("bucket"),
    }
    if isinstance(queues, dict):
        base.update({resource.variable: queues.get(logical_id) for logical_id, resource in QUEUES.items()})
    functions = local.get("environment")
    if isinstance(functions, dict):
        base = {**functions, **{name: value for name, value in base.items() if value}}
    return _from_environment(
        env,
        source="local",
        label=f"local stack {stack_file}",
        endpoint=local_endpoint,
        region=region or _text(local, "region"),
        base=base,
        local_credentials=not _text(env, "AWS_ACCESS_KEY_ID"),
    )


def _from_environment(
    env: Mapping[str, str],
    *,
    source: Source,
    label: str,
    endpoint: str | None,
    region: str | None,
    base: Mapping[str, Any],
    local_credentials: bool = False,
) -> OpsTarget:
    """Resources named by the environment, each falling back to `base` (what the stack file says)."""

    def named(variable: str) -> str | None:
        return _text(env, variable) or _text(base, variable)

    variables = {name: value for name, value in base.items() if isinstance(value, str)}
    variables.update({name: value for name, value in env.items() if isinstance(value, str)})

    return OpsTarget(
        source=source,
        label=label,
        endpoint_url=endpoint,
        region=region,
        member_table=named(MEMBER_TABLE.variable),
        bucket=named(IMPORT_BUCKET.variable),
        queue_urls={
            logical_id: url for logical_id, resource in QUEUES.items() if (url := named(resource.variable))
        },
        local_credentials=local_credentials,
        variables=variables,
    )


def _local_stack_named(path: Path, stack_name: str) -> dict[str, Any] | None:
    """The running local stack's file, when the stack it deployed is `stack_name`."""
    local = read_stack_file(path)
    return local if local is not None and local.get("stack_name") == stack_name else None


def describe_cloudformation_stack(
    name: str, endpoint: str | None, region: str | None, *, local_credentials: bool = False
) -> CloudFormationStack:
    """The stack's Outputs and Parameters (`cloudformation:DescribeStacks`)."""
    with aws_errors(endpoint):
        client = boto3.session.Session().client(
            "cloudformation",
            endpoint_url=endpoint,
            region_name=region,
            config=_CLIENT_CONFIG,
            **(LOCAL_CREDENTIALS if local_credentials else {}),
        )
        try:
            stacks = client.describe_stacks(StackName=name).get("Stacks", [])
        except ClientError as error:
            if _code(error) == "ValidationError":
                where = f" in {region}" if region else ""
                raise CommandError(f"CloudFormation stack {name} does not exist{where}") from None
            raise
    if not stacks:
        raise CommandError(f"CloudFormation stack {name} does not exist")
    stack = stacks[0]
    return CloudFormationStack(
        outputs={item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])},
        parameters={
            item["ParameterKey"]: item.get("ParameterValue", "") for item in stack.get("Parameters", [])
        },
    )


@contextmanager
def aws_errors(endpoint_url: str | None) -> Iterator[None]:
    """Turn the expected AWS failures (boto3's and pynamodb's) into one-line CommandErrors."""
    try:
        yield
    except PynamoDBException as error:
        cause = error.cause if isinstance(error.cause, Exception) else None
        if cause is None:
            raise CommandError(f"DynamoDB request failed ({type(error).__name__})") from None
        raise CommandError(explain_aws_error(cause, endpoint_url)) from None
    except (BotoCoreError, ClientError) as error:
        raise CommandError(explain_aws_error(error, endpoint_url)) from None


def explain_aws_error(error: Exception, endpoint_url: str | None) -> str:
    """One line naming what went wrong, never request contents (they may hold personal data)."""
    if isinstance(error, EndpointConnectionError):
        if endpoint_url:
            return f"cannot reach AWS at {endpoint_url}: is the local stack running (make run)?"
        return "cannot reach AWS: check the network and AWS_REGION"
    for kind, explanation in _CLIENT_PROBLEMS:
        if isinstance(error, kind):
            return explanation
    if isinstance(error, ClientError):
        code = _code(error)
        return _CODE_EXPLANATIONS.get(code, "AWS refused the request ({code})").format(code=code)
    return f"AWS request failed ({type(error).__name__})"


_CLIENT_PROBLEMS: Final = (
    (NoCredentialsError, "no AWS credentials: configure a profile or AWS_ACCESS_KEY_ID"),
    (NoRegionError, "no AWS region: set AWS_REGION or AWS_DEFAULT_REGION"),
)
_NOT_FOUND: Final = "a table or bucket of the target does not exist ({code})"
_NO_QUEUE: Final = "a queue of the target does not exist (QueueDoesNotExist)"
_REFUSED: Final = "AWS refused the credentials or permissions ({code})"
_CODE_EXPLANATIONS: Final = {
    "ResourceNotFoundException": _NOT_FOUND,
    "NoSuchBucket": _NOT_FOUND,
    "AWS.SimpleQueueService.NonExistentQueue": _NO_QUEUE,
    "QueueDoesNotExist": _NO_QUEUE,
    "AccessDenied": _REFUSED,
    "AccessDeniedException": _REFUSED,
    "UnrecognizedClientException": _REFUSED,
    "ExpiredToken": _REFUSED,
    "InvalidClientTokenId": _REFUSED,
}


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "unknown"))


def _text(values: Mapping[str, Any], name: str) -> str | None:
    value = values.get(name)
    return value if isinstance(value, str) and value else None


def add_target_argument(parser: Any) -> None:
    """The options every operator command takes (cio_sync_cli.options), `--stack NAME` among them."""
    options.add_global_options(parser)
