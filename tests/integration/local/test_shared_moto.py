"""Stacks started one after another in one process share its moto server (tests/integration/conftest.py
turns sharing on): each finds it empty, and none stops it for the next; a shared server that hangs is
replaced, not handed on."""

from __future__ import annotations

import os
import signal

import pytest

from cio_sync_local import moto_server
from cio_sync_local.clients import endpoint_client
from cio_sync_local.moto_server import release, server_for_stack

pytestmark = pytest.mark.integration


def test_the_next_stack_gets_the_same_server_with_nothing_in_it() -> None:
    first = server_for_stack("127.0.0.1", 0).wait_ready()
    endpoint = first.endpoint
    endpoint_client("sqs", endpoint).create_queue(QueueName="left-behind")
    endpoint_client("s3", endpoint).create_bucket(Bucket="left-behind")
    endpoint_client("secretsmanager", endpoint).create_secret(Name="left-behind", SecretString="{}")
    endpoint_client("dynamodb", endpoint).create_table(
        TableName="left-behind",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    release(first)
    assert first.running  # the shared server outlives the stack that used it

    second = server_for_stack("127.0.0.1", 0).wait_ready()
    assert second is first
    assert endpoint_client("sqs", endpoint).list_queues().get("QueueUrls", []) == []
    assert endpoint_client("s3", endpoint).list_buckets()["Buckets"] == []
    assert endpoint_client("secretsmanager", endpoint).list_secrets()["SecretList"] == []
    assert endpoint_client("dynamodb", endpoint).list_tables()["TableNames"] == []
    release(second)


def test_a_stack_on_a_port_of_its_own_gets_a_server_of_its_own_and_stops_it() -> None:
    shared = server_for_stack("127.0.0.1", 0).wait_ready()
    release(shared)
    own = server_for_stack("127.0.0.1", shared.port + 1)
    release(own)
    assert not own.running  # released: stopped with its stack
    assert shared.running


def test_a_shared_server_that_stopped_answering_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto_server, "RESET_TIMEOUT_S", 0.5)  # it never answers: no need to wait 10 s
    monkeypatch.setattr(moto_server, "STOP_TIMEOUT_S", 0.5)  # a stopped process ignores SIGTERM: killed
    hung = server_for_stack("127.0.0.1", 0).wait_ready()
    release(hung)
    assert hung._process is not None
    os.kill(hung._process.pid, signal.SIGSTOP)
    try:
        fresh = server_for_stack("127.0.0.1", 0).wait_ready()
    finally:
        if hung._process is not None:
            os.kill(hung._process.pid, signal.SIGCONT)
    assert fresh is not hung
    assert not hung.running
    assert endpoint_client("sqs", fresh.endpoint).list_queues().get("QueueUrls", []) == []
    release(fresh)
