"""The whole system on one machine: moto server, Customer.io emulator, template.yaml's resources, pump.

`LocalStack` is used two ways: by `cio-sync local up` (a process that runs until Ctrl-C/SIGTERM and writes
`.local/stack.json`), and in-process from pytest (`with LocalStack(aws_port=0, cio_port=0) as stack: ...;
stack.drain(30)`). The handlers run in this process and read their settings from `os.environ`, so the stack
sets the functions' environment (from the template, with the endpoints pointed here) while it runs and
restores the previous environment when it stops. Only one stack may run per process.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

from cio_sync_local.emulator import Emulator
from cio_sync_local.moto_server import MotoServer
from cio_sync_local.provision import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, aws_client, provision
from cio_sync_local.pump import Faults, Handler, IdleReport, Pump
from cio_sync_local.template import LocalContext, StackDescription, describe, load_template

READY_LINE = "cio-sync local stack ready"
DEFAULT_AWS_PORT = 5000
DEFAULT_CIO_PORT = 8099
STATE_DIR = Path(".local")
STACK_FILE_NAME = "stack.json"
# The emulator's credentials, stored in the secret the template names (the emulator CLI's defaults).
SITE_ID = "cio-sync-local"
TRACK_API_KEY = "local-track-key"
APP_API_KEY = "local-app-key"
# Template parameters that differ locally: the emulator stands in for Customer.io, so no dry run.
LOCAL_PARAMETERS: Mapping[str, str] = {"CustomerIoEnabled": "true"}
IMPORT_BUCKET = "ImportBucket"

_active_lock = threading.Lock()
_active: list[LocalStack] = []


class DrainTimeout(TimeoutError):
    """The pipeline did not become idle in time; the message says what was still busy."""


def stack_file(state_dir: Path | None = None) -> Path:
    return (state_dir or STATE_DIR) / STACK_FILE_NAME


def read_stack_file(state_dir: Path | None = None) -> dict[str, Any]:
    """What a running `cio-sync local up` wrote; FileNotFoundError when no stack is running here."""
    info: dict[str, Any] = json.loads(stack_file(state_dir).read_text(encoding="utf-8"))
    return info


def reset_execution_environment() -> None:
    """Forget what the handlers cached per process (settings, clients, secrets), like a cold start.

    The package caches its settings and clients with functools.cache, as a Lambda execution environment
    should; a new local stack has new endpoints, so those caches must not outlive the previous one.
    """
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "cio_sync" or name.startswith("cio_sync.")):
            continue
        for attribute in list(vars(module).values()):
            clear = getattr(attribute, "cache_clear", None)
            if callable(clear) and getattr(attribute, "__module__", None) == name:
                clear()
    DEFAULT_PROVIDERS.clear()
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
        parameters: Mapping[str, str] | None = None,
        environment: Mapping[str, str] | None = None,
        state_dir: Path | None = None,
        handlers: Mapping[str, Handler] | None = None,
        faults: Faults | None = None,
        visibility_timeout_s: int | None = None,
        time_scale: float | None = None,
        emulator_options: Mapping[str, Any] | None = None,
    ) -> None:
        """
        parameters: template parameter values on top of LOCAL_PARAMETERS.
        environment: extra function environment on top of the derived one (e.g. POWERTOOLS_LOG_LEVEL).
        state_dir: where to write stack.json (None: nowhere, the in-process default).
        handlers: handler overrides by function logical id (tests); the template's handlers otherwise.
        visibility_timeout_s: replaces every queue's VisibilityTimeout, so tests that fail messages on
            purpose need not wait six minutes for a redelivery (None: as the template says).
        time_scale: the consumers' backoff of failed messages runs this much faster (RETRY_TIME_SCALE in
            their environment), so a test can live through hours of a Customer.io outage in seconds.
        emulator_options: extra Emulator(...) settings (e.g. a larger request_log_size for the soak).
        """
        self.demo = demo
        self.host = host
        self._aws_port = aws_port
        self._cio_port = cio_port
        self._template = template
        self._parameters = {**LOCAL_PARAMETERS, **(parameters or {})}
        self._extra_environment = dict(environment or {})
        if time_scale is not None:
            self._extra_environment.setdefault("RETRY_TIME_SCALE", repr(time_scale))
        self._state_dir = state_dir
        self._handlers = handlers
        self._faults = faults
        self._visibility_timeout_s = visibility_timeout_s
        self._emulator_options = dict(emulator_options or {})
        self.moto: MotoServer | None = None
        self.emulator: Emulator | None = None
        self.pump: Pump | None = None
        self._description: StackDescription | None = None
        self._control: _ControlServer | None = None
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
        self.moto = MotoServer(self.host, self._aws_port).start()
        self.emulator = Emulator(
            site_id=SITE_ID,
            track_api_key=TRACK_API_KEY,
            app_api_key=APP_API_KEY,
            host=self.host,
            port=self._cio_port,
            **self._emulator_options,
        ).start()
        context = LocalContext(aws_endpoint=self.moto.endpoint)
        description = describe(load_template(self._template), context, self._parameters)
        if self._visibility_timeout_s is not None:
            description = _with_visibility_timeout(description, self._visibility_timeout_s)
        self._description = description
        self.environment = self._function_environment(description, self.emulator.url)
        provisioned = provision(description, _customer_io_secrets(self.environment))
        self._apply_environment()
        self.pump = Pump(description, provisioned.stream_arns, self._handlers, self._faults).start()
        self._control = _ControlServer(self, self.host).start()
        self.info = self._describe_running(description, provisioned.stream_arns)
        if self._state_dir is not None:
            _write_atomically(stack_file(self._state_dir), json.dumps(self.info, indent=2, sort_keys=True))

    def _function_environment(self, description: StackDescription, emulator_url: str) -> dict[str, str]:
        """The functions' variables from the template, pointed at moto and the emulator, plus what the
        Lambda runtime itself provides (region, credentials)."""
        context = description.context
        environment = description.environment()
        environment.update(
            AWS_ENDPOINT_URL=context.aws_endpoint,
            AWS_REGION=context.region,
            AWS_DEFAULT_REGION=context.region,
            AWS_ACCESS_KEY_ID=LOCAL_ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=LOCAL_SECRET_KEY,
            AWS_ACCOUNT_ID_ENDPOINT_MODE="disabled",
            CUSTOMER_IO_TRACK_URL=emulator_url,
            CUSTOMER_IO_APP_URL=emulator_url,
        )
        environment.update(self._extra_environment)
        return environment

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
        if self.pump is not None:
            self.pump.stop()
            self.pump = None
        self._restore_environment()
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None
        if self.moto is not None:
            self.moto.stop()
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
        if self.pump is None:
            raise RuntimeError("the local stack is not running; call start() first")
        return self.pump.wait_idle(timeout)

    def drain(self, timeout: float = 30.0) -> float:
        """Wait until the stream is read to its end, every source queue is empty with nothing in flight, and
        the pump is idle; returns the seconds it took, raises DrainTimeout with what was still busy."""
        started = time.monotonic()
        report = self.idle_report(timeout)
        if not report.idle:
            raise DrainTimeout(f"not idle after {timeout:g} s: " + "; ".join(report.reasons))
        return time.monotonic() - started

    def _describe_running(
        self, description: StackDescription, stream_arns: Mapping[str, str]
    ) -> dict[str, Any]:
        control = self._control
        return {
            "pid": os.getpid(),
            "aws_endpoint": description.context.aws_endpoint,
            "emulator_url": self.emulator_url,
            "control_url": control.url if control is not None else None,
            "region": description.context.region,
            "account_id": description.context.account_id,
            "member_table": description.tables["MemberTable"].name
            if "MemberTable" in description.tables
            else None,
            "tables": {logical_id: table.name for logical_id, table in description.tables.items()},
            "stream_arns": dict(stream_arns),
            "queues": {logical_id: queue.url for logical_id, queue in description.queues.items()},
            "bucket": description.buckets[IMPORT_BUCKET].name
            if IMPORT_BUCKET in description.buckets
            else None,
            "buckets": {logical_id: bucket.name for logical_id, bucket in description.buckets.items()},
            "environment": dict(self.environment),
        }


def _customer_io_secrets(environment: Mapping[str, str]) -> dict[str, str]:
    """The two secrets the template references, each with only its API's keys (as on AWS)."""
    secrets: dict[str, str] = {}
    if track := environment.get("CUSTOMER_IO_TRACK_SECRET_NAME"):
        secrets[track] = json.dumps({"site_id": SITE_ID, "track_api_key": TRACK_API_KEY})
    if app := environment.get("CUSTOMER_IO_APP_SECRET_NAME"):
        secrets[app] = json.dumps({"app_api_key": APP_API_KEY})
    return secrets


def _with_visibility_timeout(description: StackDescription, seconds: int) -> StackDescription:
    queues = {
        logical_id: replace(
            queue,
            visibility_timeout_s=seconds,
            attributes={**queue.attributes, "VisibilityTimeout": str(seconds)},
        )
        for logical_id, queue in description.queues.items()
    }
    return replace(description, queues=queues)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text + "\n", encoding="utf-8")
    temporary.replace(path)


# ---- control endpoint: lets `cio-sync local drain` in another process ask this one ----------------------


class _ControlHandler(BaseHTTPRequestHandler):
    server: _ControlHttpServer

    def do_GET(self) -> None:
        stack = self.server.stack
        if urlsplit(self.path).path == "/status":
            pump = stack.pump
            self._reply(HTTPStatus.OK, {"running": pump is not None, "pump": pump.stats() if pump else {}})
        else:
            self._reply(HTTPStatus.NOT_FOUND, {"error": "no such endpoint"})

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != "/drain":
            self._reply(HTTPStatus.NOT_FOUND, {"error": "no such endpoint"})
            return
        try:
            timeout = float(parse_qs(parts.query).get("timeout", ["30"])[0])
        except ValueError:
            self._reply(HTTPStatus.BAD_REQUEST, {"error": "timeout must be a number of seconds"})
            return
        started = time.monotonic()
        try:
            report = self.server.stack.idle_report(timeout)
        except RuntimeError as error:
            self._reply(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(error)})
            return
        self._reply(
            HTTPStatus.OK,
            {
                "idle": report.idle,
                "reasons": list(report.reasons),
                "seconds": round(time.monotonic() - started, 3),
            },
        )

    def _reply(self, status: HTTPStatus, body: Mapping[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the control endpoint is for `cio-sync local drain`, not for the screen."""


class _ControlHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], stack: LocalStack) -> None:
        self.stack = stack
        super().__init__(address, _ControlHandler)


class _ControlServer:
    def __init__(self, stack: LocalStack, host: str) -> None:
        self._server = _ControlHttpServer((host, 0), stack)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="local-stack-control", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> _ControlServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
