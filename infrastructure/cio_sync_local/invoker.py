"""Invoking a function as Lambda does: a JSON event in, a JSON answer or a failure out.

An `Invoker` runs one function. The local stack's is `workers.WorkerPool` (each invocation in a worker
process started from the function's deployed configuration); tests that only exercise the pollers hand
in plain Python callables instead, which `InProcessFunction` runs in this process.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from cio_sync_local.description import FunctionSpec

log = logging.getLogger("cio_sync_local.invoker")

Handler = Callable[[dict[str, Any], Any], Any]


class FunctionError(Exception):
    """The invocation failed as Lambda reports it: an error type (e.g. Runtime.ExitError) and a message."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


class FunctionTimeout(FunctionError):
    """The handler ran past the function's Timeout: Lambda stops it and fails the invocation."""

    def __init__(self, message: str) -> None:
        super().__init__("Sandbox.Timedout", message)


class InjectedCrash(FunctionError):
    """A fault: the handler ran, then its execution environment died before answering."""

    def __init__(self, message: str) -> None:
        super().__init__("Runtime.ExitError", message)


@dataclass
class InvocationResult:
    response: Any = None
    error: BaseException | None = None
    cold_start: bool = False


class Invoker(Protocol):
    """Runs one function; `invoke` blocks until the invocation ends (answer, failure or timeout)."""

    def invoke(self, event: dict[str, Any], *, lose_answer: bool = False) -> InvocationResult:
        """lose_answer: the environment dies after the handler ran (a fault): the answer is lost."""

    def stop(self) -> None: ...


class LambdaContext:
    """The parts of Lambda's Python context object that handlers and Powertools read."""

    def __init__(self, function: FunctionSpec, region: str, remaining_s: float | None = None) -> None:
        self.function_name = function.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function.arn
        self.memory_limit_in_mb = str(function.memory_mb)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.name}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self.region = region
        self._deadline = time.monotonic() + (function.timeout_s if remaining_s is None else remaining_s)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def json_round_trip(value: Any) -> Any:
    """What Lambda does to events and answers: they cross as JSON."""
    return json.loads(json.dumps(value))


class InProcessFunction:
    """A Python callable standing in for a function, called in this process (pump tests' fakes).

    It runs on the poller's thread; a handler that runs past the Timeout cannot be stopped here, so its
    answer is discarded and the invocation fails, as on Lambda.
    """

    def __init__(self, function: FunctionSpec, region: str, handler: Handler) -> None:
        self.function = function
        self.region = region
        self.handler = handler

    def invoke(self, event: dict[str, Any], *, lose_answer: bool = False) -> InvocationResult:
        context = LambdaContext(self.function, self.region)
        started = time.monotonic()
        result = InvocationResult()
        try:
            result.response = json_round_trip(self.handler(json_round_trip(event), context))
        except Exception as error:  # the handler's failure is data here, as it is to Lambda
            log.warning("%s failed: %s: %s", self.function.logical_id, type(error).__name__, error)
            result.error = error
        elapsed = time.monotonic() - started
        if result.error is None and elapsed > self.function.timeout_s:
            result.error = FunctionTimeout(
                f"{self.function.logical_id} ran {elapsed:.1f} s, over its {self.function.timeout_s} s"
            )
        if lose_answer and result.error is None:
            result.response = None
            result.error = InjectedCrash(f"{self.function.logical_id} crashed after the call (injected)")
        return result

    def stop(self) -> None:
        """Nothing to stop: the callable lives in this process."""
