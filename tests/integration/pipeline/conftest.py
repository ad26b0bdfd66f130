"""The real handlers on the in-process local stack: moto server, the Customer.io emulator and the pump."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cio_sync_cli.member_writes import MemberAdmin
from cio_sync_local.invariant import check_stack
from cio_sync_local.raw_table import raw_update
from cio_sync_local.stack import LocalStack

DRAIN_S = 90.0


class Pipeline:
    """What a test needs of a running stack: the table through the model, raw writes, and Customer.io."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.repo = MemberAdmin(stack.table_name(), endpoint_url=stack.aws_endpoint)
        self.placeholder = stack.environment["CUSTOMER_IO_APP_IDENTIFIER_ID"]

    def drain(self) -> None:
        self.stack.drain(DRAIN_S)

    def emulator(self, path: str) -> Any:
        response = requests.get(f"{self.stack.emulator_url}/_emulator/{path}", timeout=30)
        response.raise_for_status()
        return response.json()

    def profile(self, member_id: str) -> dict[str, Any] | None:
        profiles: dict[str, dict[str, Any]] = self.emulator("profiles")
        return profiles.get(member_id)

    def events(self, member_id: str) -> list[dict[str, Any]]:
        return [event for event in self.emulator("events") if event["person_id"] == member_id]

    def requests_total(self) -> int:
        return int(self.emulator("stats")["requests_total"])

    def set_faults(self, **faults: Any) -> None:
        response = requests.post(f"{self.stack.emulator_url}/_emulator/faults", json=faults, timeout=10)
        response.raise_for_status()

    def raw_update(self, member_id: str, **fields: Any) -> None:
        """A write as another service makes it: straight to the table, no rules applied."""
        raw_update(self.stack.client("dynamodb"), self.stack.table_name(), member_id, fields)

    def violations(self) -> list[str]:
        return check_stack(
            self.stack.client("dynamodb"),
            self.stack.table_name(),
            self.stack.emulator_url,
            ignore_profiles={self.placeholder},
        )


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    # Short visibility timeouts: a message failed on purpose comes back in seconds, not minutes.
    with LocalStack(aws_port=0, cio_port=0, visibility_timeout_s=2, time_scale=0.01) as stack:
        yield Pipeline(stack)
