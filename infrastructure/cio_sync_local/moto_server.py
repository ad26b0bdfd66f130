"""moto server as a child process on 127.0.0.1: CloudFormation, Lambda, IAM, DynamoDB, Streams, SQS, S3...

A child process rather than `ThreadedMotoServer` because it keeps moto's global state away from tests that
use in-process `mock_aws`, gives moto its own interpreter (and GIL) on a two-core machine, and dies with
its parent. The child is this module run as `python -m cio_sync_local.moto_server`: it binds the port
(0 = any free one), prints one line naming the bound port, and serves.

The child corrects only where moto behaves differently from AWS in ways the pipeline depends on (its speed
is left as it is: the bench measures cio-sync in process, cio_sync_local.bench.throughput):
* Event source mappings: moto tries to run the function itself (through Docker) whenever a message or a
  stream record arrives, receiving the messages (which counts towards maxReceiveCount) and, when that
  "succeeds", emptying the stream. The mappings stay readable through the Lambda API; playing them is
  the local pump's job alone.
* S3 event notifications: moto leaves out `versionId`, `sequencer`, `userIdentity`, `requestParameters`
  and `responseElements`; the import derives its id from the version, so the event must be AWS's.
* FIFO redelivery order: when several messages of one group wait out their visibility timeout, moto still
  counts the expired ones as in flight while it scans, and so redelivers the group's *last* message first.
  SQS redelivers them in order; the child releases expired messages before each receive.

A process that starts many stacks one after another (the test suite) may share one server among them
(`share_within_process()`): each stack then starts on it after moto's own reset, and moto's imports and
backends (about 4 CPU-s of every start) are paid once per process.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from typing import Any
from urllib.parse import quote_plus

from cio_sync_local import moto_transactions

log = logging.getLogger("cio_sync_local.moto_server")

READY_PREFIX = "moto server listening on "
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
RESET_TIMEOUT_S = 10.0
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

    @property
    def output(self) -> str:
        """The last lines it printed (what it said before it failed, if it did)."""
        return "\n".join(self._output)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def reset(self) -> None:
        """Forget every resource (moto's own reset endpoint)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=RESET_TIMEOUT_S):  # noqa: S310 - a URL we built for 127.0.0.1
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


_sharing = threading.Event()
_shared_lock = threading.Lock()
_shared: dict[str, MotoServer] = {}  # by host


def share_within_process() -> None:
    """From now on, stacks on a free port (`server_for_stack(host, 0)`) share this process's moto server."""
    _sharing.set()


def server_for_stack(host: str, port: int) -> MotoServer:
    """A launched moto server with nothing in it, for a new stack: the shared one, reset, when sharing is
    on and any port will do; else a new one (`release` it with the stack)."""
    if port or not _sharing.is_set():
        return MotoServer(host, port).launch()
    with _shared_lock:
        server = _shared.get(host)
        if server is not None:
            try:
                return _reset(server)
            except (MotoServerError, OSError) as error:  # hung or gone: the next stack gets a new one
                log.warning("the shared moto server could not be reset (%s); starting another", error)
                server.stop()
        server = _shared[host] = MotoServer(host, 0).launch()
        return server


def _reset(server: MotoServer) -> MotoServer:
    if not server.running:
        raise MotoServerError("it has exited:\n" + server.output)
    server.wait_ready().reset()
    return server


def release(server: MotoServer) -> None:
    """The stack is done with its server: stop it, unless it is the shared one (it ends with the process)."""
    with _shared_lock:
        if server in _shared.values():
            return
    server.stop()


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
    moto_transactions.install()  # TransactWriteItems isolated, as DynamoDB's (see that module)
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
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
