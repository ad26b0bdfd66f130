"""The local stack as a user runs it: `cio-sync local up --no-demo` in a subprocess, on free ports.

Tests reach it only the ways a user can: the `cio-sync` command line, boto3 against its AWS endpoint, and
the emulator's HTTP API. The stack runs in a temporary directory, so its `.local/stack.json` never
touches the working tree.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from cio_sync_local.demo import DRAIN_TIMEOUT_S
from cio_sync_local.invariant import plain

READY_LINE = "cio-sync local stack ready"
# Printed once the demo is over, finished or stopped (then test_demo fails, not every test waiting on it).
RUNNING_LINE = "running; the emulator page is"
# The console script, as `make run` starts it (what an operator runs).
CLI = [str(Path(sys.executable).with_name("cio-sync"))]
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0
# Above the demo's own bounds (each step drains for up to DRAIN_TIMEOUT_S), so a slow demo fails with the
# demo's own error, not as a line that was never printed.
DEMO_TIMEOUT_S = 8 * DRAIN_TIMEOUT_S
DRAIN_TIMEOUT_S = 60.0
# Whichever e2e test runs first starts the shared stack and waits for its demo, within its own timeout.
E2E_TIMEOUT = pytest.mark.timeout(int(START_TIMEOUT_S + DEMO_TIMEOUT_S + STOP_TIMEOUT_S + 120))

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


@dataclass
class RunningStack:
    directory: Path
    process: subprocess.Popen[bytes]
    info: dict[str, Any]

    @property
    def output(self) -> str:
        return (self.directory / "stdout.log").read_text(encoding="utf-8", errors="replace")

    def cli(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run `cio-sync ARGS` in the stack's directory (where `.local/stack.json` is)."""
        return subprocess.run(
            [*CLI, *args], cwd=self.directory, capture_output=True, text=True, timeout=timeout, check=False
        )

    def drain(self) -> None:
        result = self.cli("local", "drain", "--timeout", str(DRAIN_TIMEOUT_S), timeout=DRAIN_TIMEOUT_S + 30)
        assert result.returncode == 0, result.stderr

    def client(self, service: str) -> Any:
        return boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name=self.info["region"]
        ).client(service, endpoint_url=self.info["aws_endpoint"])

    # -- the member table, written as other services write it

    def put_member(self, item: dict[str, Any]) -> None:
        self.client("dynamodb").put_item(
            TableName=self.info["member_table"],
            Item={name: _serializer.serialize(v) for name, v in item.items()},
        )

    def set_fields(self, member_id: str, **fields: Any) -> None:
        names = {f"#f{index}": name for index, name in enumerate(fields)}
        values = {f":v{index}": _serializer.serialize(value) for index, value in enumerate(fields.values())}
        self.client("dynamodb").update_item(
            TableName=self.info["member_table"],
            Key={"id": {"S": member_id}},
            UpdateExpression="SET " + ", ".join(f"#f{index} = :v{index}" for index in range(len(fields))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def delete_member(self, member_id: str) -> None:
        self.client("dynamodb").delete_item(TableName=self.info["member_table"], Key={"id": {"S": member_id}})

    def member(self, member_id: str) -> dict[str, Any] | None:
        item = (
            self.client("dynamodb")
            .get_item(TableName=self.info["member_table"], Key={"id": {"S": member_id}}, ConsistentRead=True)
            .get("Item")
        )
        if item is None:
            return None
        return {name: plain(_deserializer.deserialize(value)) for name, value in item.items()}

    # -- the emulator's HTTP API

    def profile(self, member_id: str) -> dict[str, Any] | None:
        response = requests.get(f"{self.info['emulator_url']}/_emulator/profiles/{member_id}", timeout=10)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        profile: dict[str, Any] = response.json()
        return profile

    def events(self, member_id: str) -> list[dict[str, Any]]:
        response = requests.get(
            f"{self.info['emulator_url']}/_emulator/events", params={"person_id": member_id}, timeout=10
        )
        response.raise_for_status()
        events: list[dict[str, Any]] = response.json()
        return events

    def emails(self) -> list[dict[str, Any]]:
        response = requests.get(f"{self.info['emulator_url']}/_emulator/emails", timeout=10)
        response.raise_for_status()
        emails: list[dict[str, Any]] = response.json()
        return emails


def _wait_for(
    process: subprocess.Popen[bytes], stdout: Path, stderr: Path, line: str, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if line in stdout.read_text(encoding="utf-8", errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.1)
    output = stdout.read_text(encoding="utf-8", errors="replace")[-2000:]
    errors = stderr.read_text(encoding="utf-8", errors="replace")[-3000:]
    process.kill()
    process.wait()
    pytest.fail(
        f"`cio-sync local up` never printed {line!r} (exit {process.returncode}):\n{output}\n{errors}"
    )


@contextmanager
def local_up(directory: Path, *options: str) -> Iterator[RunningStack]:
    """`cio-sync local up OPTIONS` on free ports in `directory`, until its demo (if any) is over; then
    SIGTERM, which must stop it cleanly (exit 0, stack.json removed)."""
    stdout, stderr = directory / "stdout.log", directory / "stderr.log"
    command = [*CLI, "local", "up", "--aws-port", "0", "--cio-port", "0", *options]
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            command, cwd=directory, stdout=out, stderr=err, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
    try:
        _wait_for(process, stdout, stderr, READY_LINE, START_TIMEOUT_S)
        info = json.loads((directory / ".local" / "stack.json").read_text(encoding="utf-8"))
        _wait_for(process, stdout, stderr, RUNNING_LINE, DEMO_TIMEOUT_S)
        yield RunningStack(directory, process, info)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert process.returncode == 0, stderr.read_text(encoding="utf-8", errors="replace")[-3000:]
    assert "cio-sync local stack stopped" in stdout.read_text(encoding="utf-8")
    assert not (directory / ".local" / "stack.json").exists()


# One stack for every end-to-end test, as `make run` starts it (demo included): each start costs ~18 s of
# a worker, and the tests reach only their own members, so the demo's members and each other's do not
# matter. Package scope stops it when tests/e2e is done (tests/conftest.py keeps the package on one
# worker), not when the worker's session ends.
@pytest.fixture(scope="package")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with local_up(tmp_path_factory.mktemp("local-stack")) as stack:
        yield stack
