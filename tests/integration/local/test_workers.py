"""Functions run in worker processes of their own, kept warm like Lambda sandboxes, held to their roles.

Every timing here is the event's own: a stalled handler waits for ever, so its timeout always strikes; two
invocations that must overlap wait for each other (with a generous bound), so they always do.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cio_sync_local.clients import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, endpoint_client
from cio_sync_local.description import FunctionSpec
from cio_sync_local.invoker import FunctionError, FunctionTimeout, InjectedCrash, InvocationResult
from cio_sync_local.moto_server import MotoServer
from cio_sync_local.workers import WorkerPool, WorkerSpec

pytestmark = pytest.mark.integration

REPOSITORY = Path(__file__).resolve().parents[3]
HANDLERS = "tests.integration.local.worker_handlers"
REGION = "us-east-1"
ACCOUNT = "123456789012"


def function(handler: str, *, timeout_s: int = 60, name: str = "worker-test") -> FunctionSpec:
    return FunctionSpec(
        logical_id="WorkerTestFunction",
        name=name,
        arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        handler=f"{HANDLERS}.{handler}",
        timeout_s=timeout_s,
        memory_mb=128,
        environment={},
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/worker-test",
    )


def environment(**variables: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", os.defpath), "PYTHONPATH": str(REPOSITORY), **variables}


@pytest.fixture
def pools() -> Iterator[list[WorkerPool]]:
    started: list[WorkerPool] = []
    yield started
    for pool in started:
        pool.stop()


def pool_of(pools: list[WorkerPool], spec: WorkerSpec, size: int = 1) -> WorkerPool:
    pool = WorkerPool(spec, size=size)
    pools.append(pool)
    return pool


def ok(result: InvocationResult) -> Any:
    assert result.error is None, result.error
    return result.response


def test_a_worker_is_reused_warm_and_runs_with_its_own_environment(pools: list[WorkerPool]) -> None:
    output = io.StringIO()
    spec = WorkerSpec(function("echo"), REGION, environment(COLOUR="blue"), output=output)
    other = WorkerSpec(function("echo", name="other"), REGION, environment(COLOUR="red"))
    pool, other_pool = pool_of(pools, spec), pool_of(pools, other)

    first = pool.invoke({"names": ["COLOUR", "HOME"], "say": "hello"})
    second = pool.invoke({"names": ["COLOUR"]})
    elsewhere = other_pool.invoke({"names": ["COLOUR"]})

    assert first.cold_start
    assert not second.cold_start
    assert ok(first)["pid"] == ok(second)["pid"] != os.getpid()
    assert ok(first)["environment"] == {"COLOUR": "blue", "HOME": None}  # nothing leaks from this process
    assert ok(elsewhere)["environment"] == {"COLOUR": "red"}
    assert ok(first)["function_name"] == "worker-test"
    assert 0 < ok(first)["remaining_ms"] <= 60_000
    assert "echo hello" in output.getvalue()  # the function's output, there once the invocation is over
    assert pool.stats.cold_starts == 1


def test_a_handler_past_its_timeout_is_killed_and_the_next_invocation_starts_cold(
    pools: list[WorkerPool], tmp_path: Path
) -> None:
    # 5 s, not 1: the handler must have started (a cold start under load) before the timeout ends it.
    pool = pool_of(pools, WorkerSpec(function("stall", timeout_s=5), REGION, environment()))
    started = tmp_path / "started"

    result = pool.invoke({"started": str(started)})

    assert isinstance(result.error, FunctionTimeout)
    stalled_pid = int(started.read_text(encoding="utf-8"))
    with pytest.raises(ProcessLookupError):
        os.kill(stalled_pid, 0)  # really stopped, not left running
    again = pool.invoke({"started": str(tmp_path / "again")})
    assert isinstance(again.error, FunctionTimeout)
    assert again.cold_start
    assert pool.stats.timeouts == 2


def test_a_crashed_worker_is_replaced_and_a_failed_handler_keeps_its_warm_worker(
    pools: list[WorkerPool],
) -> None:
    crashing = pool_of(pools, WorkerSpec(function("crash"), REGION, environment()))
    crashed = crashing.invoke({})
    assert isinstance(crashed.error, FunctionError)
    assert crashed.error.error_type == "Runtime.ExitError"
    assert crashing.invoke({}).cold_start

    failing = pool_of(pools, WorkerSpec(function("fail"), REGION, environment()))
    first, second = failing.invoke({}), failing.invoke({})
    assert isinstance(first.error, FunctionError)
    assert first.error.error_type == "Runtime.HandlerError"
    assert "the handler failed on purpose" in first.error.message
    assert not second.cold_start  # an unhandled exception leaves the sandbox warm, as on Lambda


def test_an_injected_crash_after_the_call_loses_the_answer_and_the_worker(pools: list[WorkerPool]) -> None:
    pool = pool_of(pools, WorkerSpec(function("echo"), REGION, environment()))
    lost = pool.invoke({}, lose_answer=True)
    assert isinstance(lost.error, InjectedCrash)
    assert lost.response is None
    assert pool.invoke({}).cold_start


def test_a_handler_that_cannot_be_imported_fails_like_an_init_error(pools: list[WorkerPool]) -> None:
    pool = pool_of(pools, WorkerSpec(function("no_such_handler"), REGION, environment()))
    result = pool.invoke({})
    assert isinstance(result.error, FunctionError)
    assert result.error.error_type == "Runtime.ImportModuleError"
    assert pool.stats.init_failures == 1


def test_up_to_size_invocations_run_at_once_each_in_its_own_worker(
    pools: list[WorkerPool], tmp_path: Path
) -> None:
    pool = pool_of(pools, WorkerSpec(function("rendezvous", timeout_s=300), REGION, environment()), size=2)
    results: dict[str, InvocationResult] = {}

    def invoke(me: str, other: str) -> None:
        results[me] = pool.invoke({"folder": str(tmp_path), "me": me, "other": other})

    threads = [threading.Thread(target=invoke, args=pair) for pair in (("a", "b"), ("b", "a"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert ok(results["a"])["pid"] != ok(results["b"])["pid"]
    assert pool.stats.peak_concurrency == 2


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


def test_every_aws_call_is_held_to_the_role_and_a_denial_is_awss_error(
    pools: list[WorkerPool], moto: MotoServer
) -> None:
    sqs = endpoint_client("sqs", moto.endpoint)
    allowed = sqs.create_queue(QueueName="worker-allowed")["QueueUrl"]
    denied = sqs.create_queue(QueueName="worker-denied")["QueueUrl"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:worker-allowed",
            }
        ],
    }
    authorisation = {
        "role_arn": f"arn:aws:iam::{ACCOUNT}:role/worker-test",
        "session_name": "worker-test",
        "policies": [policy],
        "resources": {"region": REGION, "account_id": ACCOUNT},
    }
    variables = environment(
        AWS_ENDPOINT_URL=moto.endpoint,
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_ACCESS_KEY_ID=LOCAL_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=LOCAL_SECRET_KEY,
    )
    pool = pool_of(pools, WorkerSpec(function("send"), REGION, variables, authorisation=authorisation))

    answers = ok(pool.invoke({"queues": [allowed, denied]}))

    assert answers[allowed] == "ok"
    assert answers[denied] == (
        f"AccessDenied: User: arn:aws:sts::{ACCOUNT}:assumed-role/worker-test/worker-test "
        f"is not authorized to perform: sqs:SendMessage on resource: "
        f"arn:aws:sqs:{REGION}:{ACCOUNT}:worker-denied because no "
        "identity-based policy allows the sqs:SendMessage action"
    )
    counts = {
        url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]
        for url in (allowed, denied)
    }
    assert counts[allowed]["ApproximateNumberOfMessages"] == "1"
    assert counts[denied]["ApproximateNumberOfMessages"] == "0"  # the denied call never reached moto
