"""The whole system on one machine: moto server, the Customer.io emulator, the deployed stack and its pump.

`LocalStack` is used two ways: by `cio-sync local up` (a process that runs until Ctrl-C/SIGTERM and writes
`.local/stack.json`), and in-process from pytest (`with LocalStack(aws_port=0, cio_port=0) as stack: ...;
stack.drain(30)`). Either way it deploys template.yaml as a CloudFormation stack on moto server (`deploy`),
then runs each function in worker processes of its own (`workers`), started from what the Lambda API says
the function is: its handler, timeout, environment and role, which every AWS call it makes is held to
(`iam_hook`). The pump plays the deployed event source mappings.

A function's environment is its deployed one, plus what the Lambda runtime sets (region, credentials, the
function's name) with AWS's endpoint pointed at moto server, plus the local settings (`environment=`,
`time_scale`); the Customer.io URLs the template declares empty point at the emulator, as `sam local
invoke --env-vars` would set them. This process itself gets `stack.environment`: the endpoint, local
credentials and every function variable the functions agree on, so that code here can act as another
service (`producer()`, the operator CLI) or call a handler directly. Only one stack may run per process.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from cio_sync_cli.stack_file import STACK_FILE
from cio_sync_local.clients import (
    LOCAL_ACCESS_KEY,
    LOCAL_ACCOUNT_ID,
    LOCAL_REGION,
    LOCAL_SECRET_KEY,
    aws_client,
    load_models,
)
from cio_sync_local.control import ControlServer
from cio_sync_local.delivery import Faults
from cio_sync_local.deploy import DeployError, DeployOptions, Package, deploy, package
from cio_sync_local.description import FunctionSpec, StackContext, StackDescription
from cio_sync_local.emulator import Emulator
from cio_sync_local.function_urls import FunctionUrlServer, UrlTarget
from cio_sync_local.invoker import Handler, InProcessFunction, InvocationResult, Invoker
from cio_sync_local.mapping_grants import refused_mappings
from cio_sync_local.moto_server import MotoServer, release, server_for_stack
from cio_sync_local.pump import IdleReport, Pump, concurrency
from cio_sync_local.webhook_registration import register_reporting_webhook
from cio_sync_local.workers import WorkerPool, WorkerSpec

READY_LINE = "cio-sync local stack ready"
DEFAULT_AWS_PORT = 5000
DEFAULT_CIO_PORT = 8099
DEFAULT_STACK_NAME = "cio-sync-local"
STATE_DIR = STACK_FILE.parent  # the CLI finds the file there (cio_sync_cli.stack_file)
# The emulator's credentials, stored in the secret the template names (the emulator CLI's defaults).
SITE_ID = "cio-sync-local"
TRACK_API_KEY = "local-track-key"
APP_API_KEY = "local-app-key"
# The reporting webhook's signing key: the emulator signs with it, the receiver reads it from its secret.
REPORTING_WEBHOOK_SIGNING_KEY = "local-signing-key"
REPORTING_WEBHOOK_FUNCTION = "ReportingWebhookFunction"
# Workers behind each function URL (a URL has no mapping to size its pool by), and how many of them start
# with the stack (all: on a loaded machine a cold start took longer than Customer.io's 4 s timeout, and the
# emulator's webhook then waited its 10, 20, 40 s backoffs, past a drain's bound).
FUNCTION_URL_CONCURRENCY = 4
FUNCTION_URL_PROVISIONED = FUNCTION_URL_CONCURRENCY
# Template parameters that differ locally: the emulator stands in for Customer.io, so no dry run.
LOCAL_PARAMETERS: Mapping[str, str] = {"CustomerIoEnabled": "true"}
# Variables the template declares empty so that a local run may point them elsewhere (docs/deploy.md).
EMULATOR_VARIABLES = ("CUSTOMER_IO_TRACK_URL", "CUSTOMER_IO_APP_URL")
IMPORT_BUCKET = "ImportBucket"
# The secrets the template references, by the parameter that names each, with only its API's keys (as on
# AWS): the emulator's credentials.
CUSTOMER_IO_SECRETS: Mapping[str, str] = {
    "CustomerIoTrackSecretName": json.dumps({"site_id": SITE_ID, "track_api_key": TRACK_API_KEY}),
    "CustomerIoAppSecretName": json.dumps({"app_api_key": APP_API_KEY}),
    "ReportingWebhookSecretName": json.dumps({"signing_key": REPORTING_WEBHOOK_SIGNING_KEY}),
}

_active_lock = threading.Lock()
_active: list[LocalStack] = []


class DrainTimeout(TimeoutError):
    """The pipeline did not become idle in time; the message says what was still busy."""


def stack_file(state_dir: Path | None = None) -> Path:
    return (state_dir or STATE_DIR) / STACK_FILE.name


def reset_execution_environment() -> None:
    """Forget what the package cached in this process (settings, clients, secrets).

    Code in this process that uses the stack (`producer()`, a handler called directly) caches its
    settings and clients with functools.cache, as a Lambda execution environment does; a new local stack
    has new endpoints, so those caches must not outlive the previous one. The functions themselves run in
    worker processes and start afresh with every stack.
    """
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "cio_sync" or name.startswith("cio_sync.")):
            continue
        for attribute in list(vars(module).values()):
            clear = getattr(attribute, "cache_clear", None)
            if callable(clear) and getattr(attribute, "__module__", None) == name:
                clear()
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters.constants")
    if parameters is not None:  # Powertools' cached secret providers, when something here used them
        parameters.DEFAULT_PROVIDERS.clear()
    observability = sys.modules.get("cio_sync.observability")
    level = os.environ.get("POWERTOOLS_LOG_LEVEL")
    if observability is not None and level:
        observability.logger.setLevel(level)  # read from the environment once, when it was imported


class LocalStack:
    """Start with `.start()` (or `with`), stop with `.stop()`; `drain(timeout)` waits for an idle pipeline."""

    def __init__(
        self,
        aws_port: int = DEFAULT_AWS_PORT,
        cio_port: int = DEFAULT_CIO_PORT,
        demo: bool = False,
        *,
        host: str = "127.0.0.1",
        template: Path | str | None = None,
        stack_name: str = DEFAULT_STACK_NAME,
        parameters: Mapping[str, str] | None = None,
        environment: Mapping[str, str] | None = None,
        state_dir: Path | None = None,
        handlers: Mapping[str, Handler] | None = None,
        faults: Faults | None = None,
        visibility_timeout_s: int | None = None,
        time_scale: float | None = None,
        enforce_roles: bool = True,
        function_output: IO[str] | None = None,
        emulator_options: Mapping[str, Any] | None = None,
    ) -> None:
        """
        parameters: template parameter values on top of LOCAL_PARAMETERS.
        environment: extra function environment on top of the deployed one (e.g. POWERTOOLS_LOG_LEVEL).
        state_dir: where to write stack.json (None: nowhere, the in-process default).
        handlers: in-process callables instead of some functions, by logical id (tests of the pollers).
        visibility_timeout_s: replaces every queue's VisibilityTimeout, so tests that fail messages on
            purpose need not wait for a redelivery (None: as the template says, time-scaled).
        time_scale: the stack's clocks run this much faster than AWS's (0.01: a hundred times): queue
            visibility timeouts and retention, the mappings' batching windows and record ages, and the
            functions' backoff of failed messages and Customer.io calls (RETRY_TIME_SCALE in their
            environment; a Retry-After is Customer.io's clock and is not scaled), so a test can
            live through a day of Customer.io outage in minutes.
        enforce_roles: hold every AWS call of a function to its deployed role (AccessDenied otherwise).
        function_output: where the functions' stdout and stderr go, invocation by invocation (None: this
            process's sys.stdout at the time).
        emulator_options: extra Emulator(...) settings (e.g. a larger request_log_size for the soak).
        """
        self.demo = demo
        self.host = host
        self.stack_name = stack_name
        self._aws_port = aws_port
        self._cio_port = cio_port
        self._template = template
        self._parameters = {**LOCAL_PARAMETERS, **(parameters or {})}
        self._extra_environment = dict(environment or {})
        self.time_scale = 1.0 if time_scale is None else time_scale
        if time_scale is not None:
            self._extra_environment.setdefault("RETRY_TIME_SCALE", repr(time_scale))
        self._state_dir = state_dir
        self._handlers = dict(handlers or {})
        self._faults = faults
        self._visibility_timeout_s = visibility_timeout_s
        self._enforce_roles = enforce_roles
        self._function_output = function_output
        self._emulator_options = dict(emulator_options or {})
        self.moto: MotoServer | None = None
        self.emulator: Emulator | None = None
        self.pump: Pump | None = None
        self.invokers: dict[str, Invoker] = {}
        self._description: StackDescription | None = None
        self._control: ControlServer | None = None
        self._url_servers: dict[str, FunctionUrlServer] = {}
        self._url_targets: tuple[UrlTarget, ...] = ()
        self._saved_environment: dict[str, str | None] = {}
        self.environment: dict[str, str] = {}
        self.info: dict[str, Any] = {}

    # -- lifecycle

    def start(self) -> LocalStack:
        with _active_lock:
            if _active:
                raise RuntimeError("a local stack is already running in this process")
            _active.append(self)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        # moto server starts in its own process while this one packages the template and loads the
        # AWS models it will need: the two halves of a start overlap on a two-core machine.
        moto = self.moto = server_for_stack(self.host, self._aws_port)
        options = DeployOptions(
            parameters=self._parameters,
            secrets=CUSTOMER_IO_SECRETS,
            time_scale=self.time_scale,
            visibility_timeout_s=self._visibility_timeout_s,
        )
        # Not daemon threads: a failed start waits for them (shutdown) before it raises, since the process
        # may exit next and a thread still inside the SAM packager at interpreter shutdown can abort it.
        with ThreadPoolExecutor(2, thread_name_prefix="local-stack-start") as helpers:
            packaged = helpers.submit(package, self._template, options, LOCAL_REGION)
            models = helpers.submit(load_models)
            self._deploy(moto, options, packaged, models)

    def _deploy(
        self,
        moto: MotoServer,
        options: DeployOptions,
        packaged: Future[Package],
        models: Future[None],
    ) -> None:
        emulator_options = {
            "webhook_signing_key": REPORTING_WEBHOOK_SIGNING_KEY,
            "webhook_time_scale": self.time_scale,
            **self._emulator_options,
        }
        self.emulator = Emulator(
            site_id=SITE_ID,
            track_api_key=TRACK_API_KEY,
            app_api_key=APP_API_KEY,
            host=self.host,
            port=self._cio_port,
            **emulator_options,
        ).start()
        moto.wait_ready()
        context = StackContext(
            aws_endpoint=moto.endpoint,
            region=LOCAL_REGION,
            account_id=LOCAL_ACCOUNT_ID,
            stack_name=self.stack_name,
        )
        models.result()
        self._url_targets = packaged.result().function_urls
        self._description = description = deploy(context, packaged.result(), options)
        refused = refused_mappings(description) if self._enforce_roles else []
        if refused:
            raise DeployError("event source mappings refused, as Lambda would:\n" + "\n".join(refused))
        self.environment = self._caller_environment(description)
        self._apply_environment()
        self.invokers = {
            function.logical_id: self._invoker(function, description)
            for function in description.functions.values()
        }
        self.pump = Pump(description, self.invokers, self._faults, time_scale=self.time_scale).start()
        self._serve_function_urls(self.pump)
        self._control = ControlServer(self, self.host).start()
        self.info = self._describe_running(description)
        if self.reporting_webhook_url is not None:
            register_reporting_webhook(self.emulator.url, APP_API_KEY, self.reporting_webhook_url)
        if self._state_dir is not None:
            _write_atomically(stack_file(self._state_dir), json.dumps(self.info, indent=2, sort_keys=True))

    # -- the functions

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """The whole environment a worker of this function starts with (see the module docstring)."""
        description = self.description
        function = description.functions[logical_id]
        environment = {
            "PATH": os.environ.get("PATH", os.defpath),
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "PYTHONUNBUFFERED": "1",
            **{name: os.environ[name] for name in ("PYTHONPATH",) if name in os.environ},
        }
        environment.update(self._own_environment(function))
        environment.update(
            _aws_variables(description.context),
            AWS_LAMBDA_FUNCTION_NAME=function.name,
            AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(function.memory_mb),
            AWS_LAMBDA_LOG_GROUP_NAME=f"/aws/lambda/{function.name}",
            _HANDLER=function.handler,
        )
        return environment

    def _own_environment(self, function: FunctionSpec) -> dict[str, str]:
        """The deployed variables, the emulator where the template left room for it, the local settings."""
        environment = dict(function.environment)
        for name in EMULATOR_VARIABLES:
            if name in environment and self.emulator is not None:
                environment[name] = self.emulator.url
        environment.update(self._extra_environment)
        return environment

    def _authorisation(self, function: FunctionSpec, description: StackDescription) -> dict[str, Any] | None:
        if not self._enforce_roles:
            return None
        role = description.role_of(function.logical_id)
        context = description.context
        return {
            "role_arn": role.arn,
            "session_name": function.name,
            "policies": [dict(policy) for policy in role.policies],
            "resources": {
                "region": context.region,
                "account_id": context.account_id,
                "partition": context.partition,
                "partition_keys": {
                    table.name: next(name for name, kind in table.key_schema if kind == "HASH")
                    for table in description.tables.values()
                },
                "secrets": dict(description.secrets),
                "queue_keys": {
                    queue.arn: queue.kms_key_arn for queue in description.queues.values() if queue.kms_key_arn
                },
            },
        }

    def _invoker(self, function: FunctionSpec, description: StackDescription) -> Invoker:
        override = self._handlers.get(function.logical_id)
        if override is not None:
            return InProcessFunction(function, description.context.region, override)
        size = sum(concurrency(mapping) for mapping in description.mappings_of(function.logical_id))
        if any(target.function_id == function.logical_id for target in self._url_targets):
            size = max(size, FUNCTION_URL_CONCURRENCY)
        spec = WorkerSpec(
            function=function,
            region=description.context.region,
            environment=self.function_environment(function.logical_id),
            authorisation=self._authorisation(function, description),
            output=self._function_output,
        )
        return WorkerPool(spec, size=max(size, 1))

    def _serve_function_urls(self, pump: Pump) -> None:
        """Each function URL on a server of its own (moto creates none), its workers started now."""
        for target in self._url_targets:
            invoker = self.invokers[target.function_id]
            self._url_servers[target.function_id] = FunctionUrlServer(
                invoker, self.host, after_invoke=pump.wake, around=pump.invoking
            ).start()
            if isinstance(invoker, WorkerPool):
                threading.Thread(
                    target=invoker.provision,
                    args=(FUNCTION_URL_PROVISIONED,),
                    name="function-url-provision",
                    daemon=True,
                ).start()

    @property
    def function_urls(self) -> dict[str, str]:
        """The URL serving each function that has one, by the function's logical id."""
        return {function_id: server.url for function_id, server in self._url_servers.items()}

    @property
    def reporting_webhook_url(self) -> str | None:
        """The receiver's URL: what the stack's ReportingWebhookUrl output gives on AWS."""
        return self.function_urls.get(REPORTING_WEBHOOK_FUNCTION)

    def invoke(self, logical_id: str, event: dict[str, Any]) -> InvocationResult:
        """Invoke a function once with this event, as `sam local invoke` or the Lambda Invoke API would."""
        return self.invokers[logical_id].invoke(event)

    # -- this process

    def _caller_environment(self, description: StackDescription) -> dict[str, str]:
        """For code in this process: the endpoint, local credentials, and the variables functions agree on."""
        agreed: dict[str, str] = {}
        conflicting: set[str] = set()
        for function in description.functions.values():
            for name, value in self._own_environment(function).items():
                if agreed.setdefault(name, value) != value:
                    conflicting.add(name)
        for name in conflicting:
            del agreed[name]
        agreed.update(_aws_variables(description.context))
        return agreed

    def _apply_environment(self) -> None:
        for name, value in self.environment.items():
            self._saved_environment.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        reset_execution_environment()

    def _restore_environment(self) -> None:
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment.clear()
        reset_execution_environment()

    def stop(self) -> None:
        """Stop everything this stack started, in reverse order; safe to call more than once."""
        if self._state_dir is not None:
            with contextlib.suppress(FileNotFoundError):
                path = stack_file(self._state_dir)
                if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
                    path.unlink()
        if self._control is not None:
            self._control.stop()
            self._control = None
        for server in self._url_servers.values():
            server.stop()
        self._url_servers = {}
        if self.pump is not None:
            self.pump.stop()
            self.pump = None
        for invoker in self.invokers.values():
            invoker.stop()
        self.invokers = {}
        self._restore_environment()
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None
        if self.moto is not None:
            release(self.moto)
            self.moto = None
        with _active_lock:
            if self in _active:
                _active.remove(self)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- use

    @property
    def description(self) -> StackDescription:
        if self._description is None:
            raise RuntimeError("the local stack is not running; call start() first")
        return self._description

    @property
    def parameters(self) -> Mapping[str, str]:
        """The deployed stack's parameter values (DescribeStacks)."""
        return self.description.parameters

    @property
    def aws_endpoint(self) -> str:
        return self.description.context.aws_endpoint

    @property
    def emulator_url(self) -> str:
        if self.emulator is None:
            raise RuntimeError("the local stack is not running; call start() first")
        return self.emulator.url

    def client(self, service: str) -> Any:
        """A boto3 client for this stack's moto server."""
        return aws_client(service, self.description.context)

    def table_name(self, logical_id: str = "MemberTable") -> str:
        return self.description.tables[logical_id].name

    def queue_url(self, logical_id: str) -> str:
        return self.description.queues[logical_id].url

    def bucket_name(self, logical_id: str = IMPORT_BUCKET) -> str:
        return self.description.buckets[logical_id].name

    def idle_report(self, timeout: float) -> IdleReport:
        """Idle: the emulator has no reporting webhook left to send (they feed the consent queue), then the
        pump is idle."""
        if self.pump is None or self.emulator is None:
            raise RuntimeError("the local stack is not running; call start() first")
        deadline = time.monotonic() + timeout
        webhooks = self.emulator.webhooks
        if not webhooks.wait_sent(timeout):
            return IdleReport(False, (f"{webhooks.pending()} reporting webhooks still to send",))
        return self.pump.wait_idle(max(0.0, deadline - time.monotonic()))

    def drain(self, timeout: float = 30.0) -> float:
        """Wait until the stream is read to its end, every source queue is empty with nothing in flight, and
        the pump is idle; returns the seconds it took, raises DrainTimeout with what was still busy."""
        started = time.monotonic()
        report = self.idle_report(timeout)
        if not report.idle:
            raise DrainTimeout(f"not idle after {timeout:g} s: " + "; ".join(report.reasons))
        return time.monotonic() - started

    def _describe_running(self, description: StackDescription) -> dict[str, Any]:
        control = self._control
        context = description.context
        return {
            "pid": os.getpid(),
            "stack_name": context.stack_name,
            "aws_endpoint": context.aws_endpoint,
            "emulator_url": self.emulator_url,
            "control_url": control.url if control is not None else None,
            "region": context.region,
            "account_id": context.account_id,
            "member_table": description.tables["MemberTable"].name
            if "MemberTable" in description.tables
            else None,
            "tables": {logical_id: table.name for logical_id, table in description.tables.items()},
            "stream_arns": {
                logical_id: table.stream_arn
                for logical_id, table in description.tables.items()
                if table.stream_arn is not None
            },
            "queues": {logical_id: queue.url for logical_id, queue in description.queues.items()},
            "bucket": description.buckets[IMPORT_BUCKET].name
            if IMPORT_BUCKET in description.buckets
            else None,
            "buckets": {logical_id: bucket.name for logical_id, bucket in description.buckets.items()},
            "outputs": {**description.outputs, **self._url_outputs()},
            "function_urls": self.function_urls,
            "reporting_webhook_url": self.reporting_webhook_url,
            "functions": {
                logical_id: {
                    "name": function.name,
                    "handler": function.handler,
                    "timeout_s": function.timeout_s,
                    "role": function.role_arn,
                    "environment": self._own_environment(function),
                }
                for logical_id, function in description.functions.items()
            },
            "environment": dict(self.environment),
        }

    def _url_outputs(self) -> dict[str, str]:
        """The outputs moto could not give (they read a function URL), from the URLs served here."""
        urls = self.function_urls
        return {
            output: urls[target.function_id]
            for target in self._url_targets
            if target.function_id in urls
            for output in target.outputs
        }


def _aws_variables(context: StackContext) -> dict[str, str]:
    """The SDK's settings for this stack, in a function's environment and in this process's: moto server's
    endpoint, the stack's region and local credentials."""
    return {
        "AWS_ENDPOINT_URL": context.aws_endpoint,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "AWS_REGION": context.region,
        "AWS_DEFAULT_REGION": context.region,
        "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
    }


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text + "\n", encoding="utf-8")
    temporary.replace(path)
