"""Worker processes per function, kept warm between invocations like Lambda's execution environments.

A `WorkerPool` runs one function in up to `size` processes (`python -m cio_sync_local.worker`), each
started from the function's deployed configuration: its own environment variables, its handler, its
role. An invocation takes an idle worker (the most recently used, as Lambda reuses warm environments) or
starts a new one (a cold start: the process imports the handler's module before its first invocation).

A worker is replaced, like a cold start, when it dies (a crash, an injected crash after the call) or runs
past the function's Timeout: the pool kills it, so a stalled handler really stops. A worker that could not
start (an import error) fails the invocation as Runtime.ImportModuleError does on Lambda.

What a worker prints (its logs, Powertools' metrics) goes to a file of its own, and the pool copies it to
`WorkerSpec.output` (this process's `sys.stdout` by default) when the invocation ends, before it returns:
as Lambda collects a function's output per invocation, and so that whoever reads this process's output
(a terminal, a test capturing it) has an invocation's lines once the invocation is over.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import IO, Any

from cio_sync_local.description import FunctionSpec
from cio_sync_local.invoker import (
    FunctionError,
    FunctionTimeout,
    InjectedCrash,
    InvocationResult,
    json_round_trip,
)

log = logging.getLogger("cio_sync_local.workers")

# Lambda allows 10 s for an init; a busy two-core machine importing boto3 and Powertools needs more.
INIT_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 5.0
LOG_TRUNCATE_BYTES = 1 << 20


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process is started from."""

    function: FunctionSpec
    region: str
    environment: Mapping[str, str]  # the process's whole environment
    authorisation: Mapping[str, Any] | None = None  # iam_hook.Authorisation as JSON; None = not enforced
    output: IO[str] | None = None  # where the function's stdout and stderr go (None: this process's stdout)


@dataclass
class PoolStats:
    invocations: int = 0
    cold_starts: int = 0
    init_s: float = 0.0  # the cold starts' time, from starting the process to its handler imported
    timeouts: int = 0
    crashes: int = 0
    init_failures: int = 0
    peak_concurrency: int = 0


class _Worker:
    """One process and the socket the pool talks to it over."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        # O_APPEND: the worker's writes always land at the end, whatever this side reads or truncates.
        self.log = tempfile.TemporaryFile(mode="a+b")  # noqa: SIM115 - closed by kill()/close()
        self._log_read = 0
        parent_end, child_end = socket.socketpair()
        command = [
            sys.executable,
            "-m",
            "cio_sync_local.worker",
            "--fd",
            str(child_end.fileno()),
            "--parent-pid",
            str(os.getpid()),
        ]
        try:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
                command,
                env=dict(spec.environment),
                pass_fds=(child_end.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=self.log,
                stderr=subprocess.STDOUT,
                close_fds=True,
            )
        finally:
            child_end.close()
        self.connection = Connection(parent_end.detach())
        self._send(
            {
                "init": {
                    "function": _function_json(spec.function),
                    "region": spec.region,
                    "authorisation": spec.authorisation,
                }
            }
        )

    def _send(self, message: Mapping[str, Any]) -> None:
        self.connection.send_bytes(json.dumps(message).encode())

    def _receive(self, timeout: float) -> dict[str, Any] | None:
        """The next message, or None when none came in time; EOFError when the process is gone."""
        if not self.connection.poll(max(timeout, 0.0)):
            return None
        message: dict[str, Any] = json.loads(self.connection.recv_bytes())
        return message

    def wait_ready(self, timeout: float) -> None:
        try:
            message = self._receive(timeout)
        except (EOFError, OSError) as error:
            raise FunctionError(
                "Runtime.ExitError", f"the worker exited during init ({self._exit()})"
            ) from error
        if message is None:
            raise FunctionError("Runtime.InitTimeout", f"the worker did not start within {timeout:g} s")
        if "error" in message:
            raise FunctionError(message["error"]["type"], message["error"]["message"])

    def invoke(self, event: dict[str, Any], timeout_s: float) -> InvocationResult:
        started = time.monotonic()
        try:
            self._send({"invoke": event, "remaining_s": timeout_s})
            message = self._receive(timeout_s)
        except (EOFError, OSError, BrokenPipeError):
            return InvocationResult(
                error=FunctionError("Runtime.ExitError", f"the worker died ({self._exit()})")
            )
        if message is None:
            elapsed = time.monotonic() - started
            return InvocationResult(
                error=FunctionTimeout(f"{self.spec.function.logical_id} timed out after {elapsed:.1f} s")
            )
        if "error" in message:
            return InvocationResult(
                error=FunctionError(message["error"]["type"], message["error"]["message"])
            )
        return InvocationResult(response=json_round_trip(message.get("response")))

    def forward_output(self) -> None:
        """Copy what the worker printed since the last call to the output (see the module docstring)."""
        if self.log.closed:
            return  # the stack stopped while a call was in flight
        fd = self.log.fileno()
        size = os.fstat(fd).st_size
        if size <= self._log_read:
            return
        text = os.pread(fd, size - self._log_read, self._log_read).decode("utf-8", errors="replace")
        self._log_read = size
        output = self.spec.output if self.spec.output is not None else sys.stdout
        output.write(text)
        output.flush()
        if size > LOG_TRUNCATE_BYTES:
            os.ftruncate(fd, 0)
            self._log_read = 0

    def _exit(self) -> str:
        try:
            code = self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return "still running"
        return f"exit code {code}"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._close_connection()
        self._close_log()

    def close(self) -> None:
        """Let the worker end by itself (its socket closes), then make sure it did."""
        self._close_connection()
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._close_log()

    def _close_connection(self) -> None:
        """A stop and a call in flight may both close it: the second finds it closed (EBADF), not an error."""
        with contextlib.suppress(OSError):
            self.connection.close()

    def _close_log(self) -> None:
        if not self.log.closed:
            self.forward_output()
            self.log.close()


def _function_json(function: FunctionSpec) -> dict[str, Any]:
    return {
        "logical_id": function.logical_id,
        "name": function.name,
        "arn": function.arn,
        "handler": function.handler,
        "timeout_s": function.timeout_s,
        "memory_mb": function.memory_mb,
        "environment": {},
        "role_arn": function.role_arn,
    }


@dataclass
class WorkerPool:
    """Invokes one function in up to `size` warm worker processes (see the module docstring)."""

    spec: WorkerSpec
    size: int
    init_timeout_s: float = INIT_TIMEOUT_S
    stats: PoolStats = field(default_factory=PoolStats)

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._starting = 0
        self._stopped = False

    @property
    def function(self) -> FunctionSpec:
        return self.spec.function

    def invoke(self, event: dict[str, Any], *, lose_answer: bool = False) -> InvocationResult:
        worker, cold = self._acquire()
        if worker is None:
            return InvocationResult(error=FunctionError("Runtime.Stopped", "the local stack is stopping"))
        if isinstance(worker, FunctionError):
            return InvocationResult(error=worker, cold_start=True)
        result = worker.invoke(event, float(self.function.timeout_s))
        worker.forward_output()
        result.cold_start = cold
        healthy = result.error is None or (
            isinstance(result.error, FunctionError) and result.error.error_type == "Runtime.HandlerError"
        )
        if isinstance(result.error, FunctionTimeout):
            self.stats.timeouts += 1
        elif not healthy:
            self.stats.crashes += 1
        if healthy and lose_answer:
            healthy = False
            result = InvocationResult(
                error=InjectedCrash(f"{self.function.logical_id} crashed after the call (injected)"),
                cold_start=cold,
            )
        self._release(worker, healthy)
        return result

    def _acquire(self) -> tuple[_Worker | FunctionError | None, bool]:
        with self._lock:
            while True:
                if self._stopped:
                    return None, False
                if self._idle:
                    worker = self._idle.pop()
                    self._busy.add(worker)
                    self._count_invocation()
                    return worker, False
                if len(self._busy) + self._starting < self.size:
                    self._starting += 1
                    break
                self._lock.wait()
        began = time.monotonic()
        try:
            started = _Worker(self.spec)
        except OSError as error:
            return self._start_failed(FunctionError("Runtime.StartError", str(error))), True
        try:
            started.wait_ready(self.init_timeout_s)
            started.forward_output()
        except FunctionError as error:
            started.kill()
            log.warning("%s could not start: %s", self.function.logical_id, error)
            return self._start_failed(error), True
        with self._lock:
            self._starting -= 1
            if self._stopped:
                started.kill()
                return None, True
            self._busy.add(started)
            self.stats.cold_starts += 1
            self.stats.init_s += time.monotonic() - began
            self._count_invocation()
        return started, True

    def _count_invocation(self) -> None:
        self.stats.invocations += 1
        self.stats.peak_concurrency = max(self.stats.peak_concurrency, len(self._busy))

    def _start_failed(self, error: FunctionError) -> FunctionError:
        with self._lock:
            self._starting -= 1
            self.stats.init_failures += 1
            self._lock.notify()
        return error

    def _release(self, worker: _Worker, healthy: bool) -> None:
        if not healthy:
            worker.kill()
        with self._lock:
            self._busy.discard(worker)
            if healthy and not self._stopped:
                self._idle.append(worker)
            elif healthy:
                worker.close()
            self._lock.notify()

    def provision(self, count: int = 1) -> int:
        """Start `count` workers at once, ahead of their first invocation (Lambda's provisioned
        concurrency): an endpoint with a client's timeout (a function URL) must not spend a request on a
        cold start. Returns how many started."""
        acquired: list[_Worker | FunctionError | None] = []
        takers = [threading.Thread(target=lambda: acquired.append(self._acquire()[0])) for _ in range(count)]
        for taker in takers:
            taker.start()
        for taker in takers:
            taker.join()
        started = [worker for worker in acquired if isinstance(worker, _Worker)]
        with self._lock:
            self.stats.invocations -= len(started)  # started, not invoked
        for worker in started:
            self._release(worker, True)
        return len(started)

    @property
    def warm(self) -> int:
        with self._lock:
            return len(self._idle) + len(self._busy)

    def stop(self) -> None:
        """Workers end: idle ones when their socket closes (all at once), busy ones are killed."""
        with self._lock:
            self._stopped = True
            idle, busy = list(self._idle), list(self._busy)
            self._idle.clear()
            self._lock.notify_all()
        for worker in busy:
            worker.kill()
        for worker in idle:
            worker._close_connection()
        for worker in idle:
            worker.close()
