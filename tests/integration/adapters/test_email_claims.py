"""The email's claim records in DynamoDB (moto): the conditions behind "sent at most once per intent".

The unit tests' FakeClaims (tests/unit/pipeline/email_fakes.py) follows these rules; this holds the adapter
to them, and replays issue 21's "email sent twice" history through the real handler on a real table.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from cio_sync.adapters.aws import aws_client
from cio_sync.adapters.email_idempotency import IDEMPOTENCY_WINDOW_S, DynamoSendClaims, claim_key
from cio_sync.handlers.email import handle
from cio_sync.handlers.email_runtime import EmailRuntime
from cio_sync.pipeline.email_consumer import AlreadySent, Claimed, Held
from cio_sync.sync.intents import SendEmail
from tests.unit.pipeline.email_fakes import ENDED, Context, Members, Sender, email_event, email_ports

pytestmark = pytest.mark.integration

REGION = "us-east-1"
MEMBER = {"id": "5f0c8e2a9b1d4c3e2f1a0b9c", "email": "private.person@example.org"}
INTENT = SendEmail("pw-1", MEMBER["id"], "password_updated", {})
NOW_S = 1_800_000_000.0
STORED = {"id", "holder", "lease_until", "expiration", "delivery_id"}


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in (
        ("AWS_DEFAULT_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", "x"),
        ("AWS_SECRET_ACCESS_KEY", "x"),
    ):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield aws_client("dynamodb")


@pytest.fixture
def table(client: Any) -> str:
    name = f"idempotency-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def stored(client: Any, table: str, intent: SendEmail = INTENT) -> dict[str, Any]:
    item: dict[str, Any] = client.get_item(TableName=table, Key={"id": {"S": claim_key(intent)}})["Item"]
    return item


def test_a_claim_is_held_until_its_lease_ends_then_the_delivery_id_answers_every_receive(
    client: Any, table: str
) -> None:
    claims = DynamoSendClaims(client, table, clock=lambda: NOW_S)
    first = claims.claim(INTENT, NOW_S, NOW_S + 59.5)
    assert isinstance(first, Claimed)
    assert claims.claim(INTENT, NOW_S + 30, NOW_S + 90) == Held(NOW_S + 60)
    claims.record_sent(INTENT, "delivery-1")
    assert claims.claim(INTENT, NOW_S + 3600, NOW_S + 3660) == AlreadySent("delivery-1")
    item = stored(client, table)
    assert set(item) == STORED  # ids and times only: no address, no message data
    assert item["id"]["S"] == f"email#{MEMBER['id']}#pw-1"
    assert int(item["expiration"]["N"]) == int(NOW_S) + IDEMPOTENCY_WINDOW_S


def test_an_expired_lease_without_a_delivery_id_is_taken_over_but_a_delivery_id_never_is(
    client: Any, table: str
) -> None:
    claims = DynamoSendClaims(client, table, clock=lambda: NOW_S)
    dead = claims.claim(INTENT, NOW_S, NOW_S + 60)
    taken_over = claims.claim(INTENT, NOW_S + 61, NOW_S + 121)
    assert isinstance(dead, Claimed)
    assert isinstance(taken_over, Claimed)
    assert taken_over.token != dead.token
    claims.record_sent(INTENT, "delivery-2")
    assert claims.claim(INTENT, NOW_S + 6 * 86400, NOW_S + 6 * 86400 + 60) == AlreadySent("delivery-2")


def test_a_record_past_its_ttl_that_dynamodb_has_not_deleted_yet_counts_as_gone(
    client: Any, table: str
) -> None:
    claims = DynamoSendClaims(client, table, clock=lambda: NOW_S)
    claims.claim(INTENT, NOW_S, NOW_S + 60)
    claims.record_sent(INTENT, "delivery-1")
    later = NOW_S + IDEMPOTENCY_WINDOW_S + 1
    assert isinstance(claims.claim(INTENT, later, later + 60), Claimed)


def test_release_gives_up_only_its_own_undelivered_claim(client: Any, table: str) -> None:
    claims = DynamoSendClaims(client, table, clock=lambda: NOW_S)
    mine = claims.claim(INTENT, NOW_S, NOW_S + 60)
    assert isinstance(mine, Claimed)
    claims.release(INTENT, "someone-else")
    assert stored(client, table)["holder"]["S"] == mine.token
    claims.release(INTENT, mine.token)
    assert "Item" not in client.get_item(TableName=table, Key={"id": {"S": claim_key(INTENT)}})
    again = claims.claim(INTENT, NOW_S, NOW_S + 60)
    assert isinstance(again, Claimed)
    claims.record_sent(INTENT, "delivery-1")
    claims.release(INTENT, again.token)
    assert stored(client, table)["delivery_id"]["S"] == "delivery-1"


def test_two_members_with_the_same_intent_id_never_suppress_each_other(client: Any, table: str) -> None:
    claims = DynamoSendClaims(client, table, clock=lambda: NOW_S)
    other = SendEmail("pw-1", "0" * 24, "password_updated", {})
    claims.claim(INTENT, NOW_S, NOW_S + 60)
    claims.record_sent(INTENT, "delivery-1")
    assert isinstance(claims.claim(other, NOW_S, NOW_S + 60), Claimed)


class RetriedPuts:
    """A put whose answer was lost: it landed, and botocore sent it again (which then fails its condition)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def put_item(self, **request: Any) -> Any:
        self._client.put_item(**request)
        return self._client.put_item(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_claim_whose_own_put_was_retried_is_still_ours(client: Any, table: str) -> None:
    claims = DynamoSendClaims(RetriedPuts(client), table, clock=lambda: NOW_S)
    claim = claims.claim(INTENT, NOW_S, NOW_S + 60)
    assert isinstance(claim, Claimed)
    assert stored(client, table)["holder"]["S"] == claim.token


class FailingUpdates:
    """The table refuses the first `failures` UpdateItem calls (throttled, or an outage)."""

    def __init__(self, client: Any, failures: int) -> None:
        self._client = client
        self.failures = failures

    def update_item(self, **request: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}
            raise ClientError(error, "UpdateItem")
        return self._client.update_item(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_issue_21_an_accepted_email_whose_save_failed_is_not_sent_again_when_the_message_comes_back(
    client: Any, table: str
) -> None:
    sender = Sender()
    ports, _, dead = email_ports(Members(MEMBER), sender, max_receives=300)
    deps = EmailRuntime(
        ports=ports._replace(claims=DynamoSendClaims(FailingUpdates(client, 1), table)), preflight=list
    )
    assert handle(email_event(INTENT, 1), ENDED, deps) == {"batchItemFailures": []}
    assert handle(email_event(INTENT, 2), Context(), deps) == {"batchItemFailures": []}
    assert len(sender.sent) == 1
    assert dead.parked == []
    assert stored(client, table)["delivery_id"]["S"] == "delivery-1"
