"""The adapters' AWS clients come from one botocore session per process (a cold start's CPU)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest

from cio_sync.adapters import aws

pytestmark = pytest.mark.unit


@pytest.fixture
def sessions_made(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unit")  # no look for credentials on the network
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unit")
    made: list[Any] = []
    make = botocore.session.get_session

    def counting() -> Any:
        made.append(make())
        return made[-1]

    monkeypatch.setattr(botocore.session, "get_session", counting)
    aws._session.cache_clear()
    yield made
    aws._session.cache_clear()


def test_a_cold_starts_clients_share_one_session(sessions_made: list[Any]) -> None:
    """Each new session parses botocore's endpoint file and the service's model again."""
    clients = [aws.aws_client(service) for service in ("sqs", "dynamodb", "secretsmanager")]
    assert [client.meta.service_model.service_name for client in clients] == [
        "sqs",
        "dynamodb",
        "secretsmanager",
    ]
    assert len(sessions_made) == 1
