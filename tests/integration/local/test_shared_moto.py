"""Stacks started one after another in one process share its moto server (tests/integration/conftest.py
turns sharing on): each finds it empty, and none stops it for the next."""

from __future__ import annotations

import pytest

from cio_sync_local.clients import endpoint_client
from cio_sync_local.moto_server import release, server_for_stack

pytestmark = pytest.mark.integration


def test_the_next_stack_gets_the_same_server_with_nothing_in_it() -> None:
    first = server_for_stack("127.0.0.1", 0).wait_ready()
    sqs = endpoint_client("sqs", first.endpoint)
    sqs.create_queue(QueueName="left-behind")
    release(first)
    assert first.running  # the shared server outlives the stack that used it

    second = server_for_stack("127.0.0.1", 0).wait_ready()
    assert second is first
    assert endpoint_client("sqs", second.endpoint).list_queues().get("QueueUrls", []) == []
    release(second)


def test_a_stack_on_a_port_of_its_own_gets_a_server_of_its_own_and_stops_it() -> None:
    shared = server_for_stack("127.0.0.1", 0).wait_ready()
    release(shared)
    own = server_for_stack("127.0.0.1", shared.port + 1)  # a fixed port: never the shared server
    try:
        assert own is not shared
    finally:
        release(own)
    assert not own.running
    assert shared.running
