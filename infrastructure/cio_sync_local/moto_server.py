"""moto server as a child process on 127.0.0.1: CloudFormation, Lambda, IAM, DynamoDB, Streams, SQS, S3...

A child process rather than `ThreadedMotoServer` because it keeps moto's global state away from tests that
use in-process `mock_aws`, gives moto its own interpreter (and GIL) on a two-core machine, and dies with
its parent. The child is this module run as `python -m cio_sync_local.moto_server`: it binds the port
(0 = any free one), prints one line naming the bound port, and serves.

The child also corrects three things where moto differs from AWS in ways the pipeline depends on:
* Event source mappings: moto tries to run the function itself (through Docker) whenever a message or a
  stream record arrives, receiving the messages (which counts towards maxReceiveCount) and, when that
  "succeeds", emptying the stream. The mappings stay readable through the Lambda API; playing them is
  the local pump's job alone.
* S3 event notifications: moto leaves out `versionId`, `sequencer`, `userIdentity`, `requestParameters`
  and `responseElements`; the import derives its id from the version, so the event must be AWS's.
* FIFO redelivery order: when several messages of one group wait out their visibility timeout, moto still
  counts the expired ones as in flight while it scans, and so redelivers the group's *last* message first.
  SQS redelivers them in order; the child releases expired messages before each receive.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import functools
import importlib
import io
import itertools
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from typing import Any, cast
from urllib.parse import quote_plus

from cio_sync_local import moto_transactions

READY_PREFIX = "moto server listening on "
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
LOCAL_PRINCIPAL = "AWS:AIDALOCALSTACKUSER0"
LOCAL_OWNER = "A1LOCALSTACKOWNER"


class MotoServerError(RuntimeError):
    """moto server could not be started or stopped."""


class MotoServer:
    """Start with `.start()`, use `.endpoint`, end with `.stop()`; also a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._requested_port = port
        self._process: subprocess.Popen[str] | None = None
        self._port: int | None = None
        self._output: deque[str] = deque(maxlen=50)
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise MotoServerError("moto server is not running; call start() first")
        return self._port

    @property
    def endpoint(self) -> str:
        return f"http://{self._host}:{self.port}"

    def start(self) -> MotoServer:
        return self.launch().wait_ready()

    def launch(self) -> MotoServer:
        """Start the child and return at once; `wait_ready()` waits until it listens."""
        if self._process is not None:
            return self
        command = [sys.executable, "-m", "cio_sync_local.moto_server", "--host", self._host]
        command += ["--port", str(self._requested_port), "--parent-pid", str(os.getpid())]
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read_output, name="moto-server-output", daemon=True)
        self._reader.start()
        return self

    def wait_ready(self) -> MotoServer:
        if not self._ready.wait(START_TIMEOUT_S) or self._port is None:
            output = "\n".join(self._output)
            self.stop()
            raise MotoServerError(f"moto server did not start within {START_TIMEOUT_S:.0f} s:\n{output}")
        return self

    def _read_output(self) -> None:
        """Keep reading so the child never blocks on a full pipe; remember the tail for error messages."""
        process = self._process
        if process is None or process.stdout is None:
            return
        for line in process.stdout:
            text = line.rstrip("\n")
            if text.startswith(READY_PREFIX) and not self._ready.is_set():
                self._port = int(text.rsplit(":", 1)[1])
                self._ready.set()
            else:
                self._output.append(text)
        self._ready.set()

    def reset(self) -> None:
        """Forget every resource (moto's own reset endpoint)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - a URL we built for 127.0.0.1
            pass

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT_S)
        if self._reader is not None:
            self._reader.join(timeout=STOP_TIMEOUT_S)
        if process.stdout is not None:
            process.stdout.close()
        self._process = None
        self._port = None
        self._ready.clear()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# ---- the child process ------------------------------------------------------------------------------

_sequencer = itertools.count(1)


def aws_shaped_s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
    """One S3 event notification record exactly as S3 sends it (moto's own omits several fields)."""
    from moto.core.utils import iso_8601_datetime_with_milliseconds  # noqa: PLC0415 - child process only

    s3_object: dict[str, Any] = {
        "key": quote_plus(key.name, safe="/"),  # S3 form-encodes keys but keeps the slashes
        "size": key.size,
        "eTag": key.etag.replace('"', ""),
    }
    if key.version_id and key.version_id != "null":
        s3_object["versionId"] = key.version_id
    s3_object["sequencer"] = f"{time.time_ns():016X}{next(_sequencer):04X}"
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": bucket.region_name,
        "eventTime": iso_8601_datetime_with_milliseconds(),
        "eventName": event_name.removeprefix("s3:"),
        "userIdentity": {"principalId": LOCAL_PRINCIPAL},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {
            "x-amz-request-id": secrets.token_hex(8).upper(),
            "x-amz-id-2": secrets.token_urlsafe(48),
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": notification_id,
            "bucket": {"name": bucket.name, "ownerIdentity": {"principalId": LOCAL_OWNER}, "arn": bucket.arn},
            "object": s3_object,
        },
    }
    return {"Records": [record]}


def _patch_s3_notifications() -> None:
    from moto.s3 import notifications  # noqa: PLC0415 - moto is imported in the child process only

    if not callable(getattr(notifications, "_get_s3_event", None)):
        raise MotoServerError("this moto version has no s3 notifications._get_s3_event to make AWS-shaped")
    notifications._get_s3_event = aws_shaped_s3_event


def _patch_fifo_redelivery_order() -> None:
    from moto.sqs.models import SQSBackend  # noqa: PLC0415 - moto is imported in the child process only

    receive = SQSBackend.receive_message

    def receive_in_order(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        queue = self.get_queue(queue_name)
        for message in [message for message in queue.pending_messages if message.visible]:
            queue.pending_messages.discard(message)
        return receive(self, queue_name, *args, **kwargs)

    SQSBackend.receive_message = receive_in_order  # type: ignore[method-assign]


def _leave_event_source_mappings_to_the_pump() -> None:
    from moto.awslambda.models import LambdaBackend  # noqa: PLC0415 - moto is imported in the child only
    from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415 - as above
    from moto.sqs.models import sqs_backends  # noqa: PLC0415 - as above

    create = LambdaBackend.create_event_source_mapping

    def create_unattached(self: Any, spec: dict[str, Any]) -> Any:
        mapping = create(self, spec)
        sources: list[Any] = [*sqs_backends[self.account_id][self.region_name].queues.values()]
        sources += [*dynamodb_backends[self.account_id][self.region_name].tables.values()]
        for source in sources:
            attached = getattr(source, "lambda_event_source_mappings", {})
            for key in [key for key, value in attached.items() if value is mapping]:
                del attached[key]
        return mapping

    LambdaBackend.create_event_source_mapping = create_unattached  # type: ignore[method-assign]


# The backends a deployment touches: importing them takes seconds (moto.cloudformation alone imports most
# of moto), so the child imports them while the parent starts its own side, not on the first request.
PRELOADED_BACKENDS = (
    "moto.cloudformation.models",
    "moto.awslambda.models",
    "moto.iam.models",
    "moto.sqs.models",
    "moto.dynamodb.models",
    "moto.dynamodbstreams.models",
    "moto.s3.models",
    "moto.secretsmanager.models",
)


def _preload_backends() -> None:
    for module in PRELOADED_BACKENDS:
        importlib.import_module(module)


def _share_region_lists() -> None:
    """moto asks a new boto3 Session for a service's regions in many places (three times while importing
    its EC2 models, which CloudFormation imports), and each Session reads botocore's endpoint file again:
    most of a second of the child's start. One session answers them all here; the answers are the same."""
    import boto3.session  # noqa: PLC0415 - the child process only

    shared = boto3.session.Session()
    regions = functools.cache(shared.get_available_regions)

    def get_available_regions(
        self: Any, service_name: str, partition_name: str = "aws", allow_non_regional: bool = False
    ) -> list[str]:
        return list(regions(service_name, partition_name, allow_non_regional))

    boto3.session.Session.get_available_regions = get_available_regions


def _route_hosts_once() -> None:
    """moto routes each request by its host: under one lock for every request, it lists its own package
    directory and tries the URL patterns of every service, a fifth of the child's time under load. The
    answer for a host never changes; it is remembered here."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication  # noqa: PLC0415 - child only

    find = DomainDispatcherApplication.get_backend_for_host
    routes: dict[str | None, Any] = {}

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        if host not in routes:
            routes[host] = find(self, host)
        return routes[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


class _CountedBody:
    """A request body as the application reads it, counted, so that what it left unread can be drained."""

    def __init__(self, stream: Any, length: int) -> None:
        self._stream = stream
        self.remaining = length

    def read(self, size: int | None = -1) -> bytes:
        wanted = self.remaining if size is None or size < 0 else min(size, self.remaining)
        data: bytes = self._stream.read(wanted) if wanted > 0 else b""
        self.remaining -= len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        wanted = self.remaining if size is None or size < 0 else min(size, self.remaining)
        data: bytes = self._stream.readline(wanted) if wanted > 0 else b""
        self.remaining -= len(data)
        return data

    def drain(self) -> bool:
        """Read what is left of the body; False if the connection ended first."""
        while self.remaining > 0:
            if not self.read(min(self.remaining, 1 << 16)):
                return False
        return True


EXPRESSION_CACHE_SIZE = 4096


def _bounded_cache(function: Any) -> Any:
    """`function` remembered per (hashable) arguments, forgetting everything when the cache is full."""
    remembered: dict[Any, Any] = {}

    @functools.wraps(function)
    def cached(*args: Any) -> Any:
        key = json.dumps(args, sort_keys=True, default=str)
        if key not in remembered:
            if len(remembered) >= EXPRESSION_CACHE_SIZE:
                remembered.clear()
            remembered[key] = function(*args)
        return remembered[key]

    return cached


def _parse_each_expression_once() -> None:
    """moto parses every DynamoDB expression anew, character by character, on every request: a fifth of
    a conditional update's time. The parsed forms are never changed by their users (validation works on
    a copy; a condition is only evaluated), so the same text (with the same names and values) is parsed
    once here. Per-class method lists, which moto recomputes with `inspect` on every request, likewise."""
    from moto.core import responses  # noqa: PLC0415 - the child process only
    from moto.dynamodb import comparisons, models  # noqa: PLC0415 - as above
    from moto.dynamodb.models import table  # noqa: PLC0415 - as above
    from moto.dynamodb.parsing import expressions  # noqa: PLC0415 - as above

    parser = cast(Any, expressions).UpdateExpressionParser
    parser.make = staticmethod(_bounded_cache(parser.make))
    condition = _bounded_cache(cast(Any, comparisons).get_filter_expression)
    for module in (comparisons, models, table):
        cast(Any, module).get_filter_expression = condition
    patched = cast(Any, responses)
    patched.method_names_from_class = functools.cache(patched.method_names_from_class)


# Answers that are plain JSON already: moto's model-driven serializer walks every attribute of every item
# (half of the child's time while the stream and the track function read members in bulk).
PLAIN_JSON_ANSWERS = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "TransactGetItems",
        "GetRecords",
    }
)


def _wire_value(value: Any) -> Any:
    """What AWS's JSON protocol writes for a timestamp (seconds since the epoch) and a blob (base64)."""
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _without_nulls(value: Any) -> Any:
    """The serializer leaves out members that have no value; a null would read as present."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _answer_plain_json_directly() -> None:
    """DynamoDB's item answers and the stream's records are plain JSON in moto before serialization (the
    item wire format moto keeps them in): written with `json` they come out as the serializer writes
    them, in a fraction of its time."""
    from moto.core.responses import BaseResponse, PaginatedResult  # noqa: PLC0415 - the child process only

    serialized = BaseResponse.serialized

    def plain_or_serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result
        if (
            self.service_name in {"dynamodb", "dynamodbstreams"}
            and isinstance(result, dict)
            and not isinstance(action_result, PaginatedResult)
            and self._get_action() in PLAIN_JSON_ANSWERS
        ):
            headers = dict(self.response_headers)
            headers["Content-Type"] = "application/x-amz-json-1.0"
            return 200, headers, json.dumps(_without_nulls(result), default=_wire_value)
        return serialized(self, action_result)

    BaseResponse.serialized = plain_or_serialized  # type: ignore[method-assign]


def _keep_alive_handler(base: type[Any]) -> type[Any]:
    """werkzeug's development server closes the connection after every response, because after each one
    it reads whatever else the client sent (it cannot tell the rest of a body from the next request), so
    each request costs a new connection and a new thread: a third of the child's time under load.

    This handler counts the body the application reads and drains exactly the rest, and shows werkzeug's
    read-after-response an empty stream (and a socket at its end), so an HTTP/1.1 connection stays open
    for the next request, as AWS's endpoints keep it. A body it cannot count (chunked) still closes it."""

    spent, peer = socket.socketpair()
    peer.close()  # its peer gone, `spent` is always readable and always at its end

    class KeepAliveHandler(base):  # type: ignore[misc]
        _body: _CountedBody | None = None
        _real: tuple[Any, Any] = (None, None)  # the connection's own reader and socket, while hidden
        rfile: Any
        connection: Any

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes: without this, Nagle's algorithm and the
            # client's delayed ACK hold every response on a kept-alive connection for 40 ms.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def make_environ(self) -> dict[str, Any]:
            shown = self.rfile, self.connection
            self.rfile, self.connection = self._real
            try:
                environ: dict[str, Any] = super().make_environ()
            finally:
                self.rfile, self.connection = shown
            length = environ.get("CONTENT_LENGTH") or "0"
            if environ.get("wsgi.input_terminated") or not length.isdigit():
                self._body = None
            else:
                self._body = _CountedBody(environ["wsgi.input"], int(length))
                environ["wsgi.input"] = self._body
            return environ

        def send_header(self, keyword: str, value: str) -> None:
            if keyword.lower() == "connection" and value.lower() == "close" and self._body is not None:
                return  # decided once the response is out: see run_wsgi
            super().send_header(keyword, value)

        def run_wsgi(self) -> None:
            self._real = self.rfile, self.connection
            self.rfile, self.connection = io.BytesIO(), spent
            try:
                super().run_wsgi()
            finally:
                self.rfile, self.connection = self._real
            if self._body is None or not self._body.drain():
                self.close_connection = True
            self._body = None

    return KeepAliveHandler


def _exit_with_parent(parent_pid: int, server: Any) -> None:
    """An orphaned moto server would hold its port forever; follow the parent out."""
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    server.shutdown()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="moto server for the cio-sync local stack")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--parent-pid", type=int, default=0)
    args = parser.parse_args(argv)

    _share_region_lists()
    from moto.moto_server.werkzeug_app import (  # noqa: PLC0415 - moto is imported in the child process only
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server  # noqa: PLC0415 - as above

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    _patch_s3_notifications()
    _patch_fifo_redelivery_order()
    _leave_event_source_mappings_to_the_pump()
    _route_hosts_once()
    _parse_each_expression_once()
    _answer_plain_json_directly()
    moto_transactions.install()  # TransactWriteItems isolated and cheap, as DynamoDB's (see that module)
    app = DomainDispatcherApplication(create_backend_app)
    handler = _keep_alive_handler(MotoRequestHandler)
    server = make_server(args.host, args.port, app, threaded=True, request_handler=handler)
    port = int(server.server_address[1])
    os.environ["MOTO_PORT"] = str(port)  # what `python -m moto.server` sets for moto's own use

    def _stop(_signum: int, _frame: object) -> None:
        os._exit(0)  # moto keeps everything in memory: nothing to flush, no reason to wait for a poll

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if args.parent_pid:
        threading.Thread(target=_exit_with_parent, args=(args.parent_pid, server), daemon=True).start()
    print(f"{READY_PREFIX}{args.host}:{port}", flush=True)
    threading.Thread(target=_preload_backends, name="moto-preload", daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
