"""The email's botocore idempotency store and Powertools' own DynamoDB layer share one table in moto.

Each case runs both ways (a record written through one layer, read through the other), with
`idempotent_function` configured as cio_sync.adapters.email_idempotency configures it. Expiry cases use
explicit timestamps: an invocation context whose end is a minute away or a minute past, or an expiration
written straight to the item.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.typing import LambdaContext
from moto import mock_aws

from cio_sync.adapters.aws import aws_client
from cio_sync.adapters.email_idempotency import EVENT_KEY, IDEMPOTENCY_WINDOW_S, RECORD_NAME, IdempotentEmail
from cio_sync.adapters.idempotency_store import BotocorePersistenceLayer
from cio_sync.pipeline.email_consumer import EmailSent
from cio_sync.sync.intents import SendEmail

REGION = "us-east-1"
TABLE = "cio-sync-test-idempotency"
OTHER_TABLE = "cio-sync-test-idempotency-2"
FUNCTION = "cio-sync-test-email"
MEMBER_ID = "5f0c8e2a9b1d4c3e2f1a0b9c"
MINUTE_MS = 60_000

Layer = Callable[[str], BasePersistenceLayer]


def ours(table: str) -> BasePersistenceLayer:
    return BotocorePersistenceLayer(aws_client("dynamodb"), table)


def powertools(table: str) -> BasePersistenceLayer:
    return DynamoDBPersistenceLayer(table_name=table)


BOTH_WAYS = pytest.mark.parametrize(
    ("first", "second"),
    [(powertools, ours), (ours, powertools)],
    ids=["powertools then ours", "ours then powertools"],
)


class Crash(BaseException):
    """The invocation dies mid-send (a timeout): Powertools catches Exception only, so the record stays."""


class Context:
    """A Lambda context whose invocation ends `remaining_ms` from now (negative: it has ended)."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class Sender:
    """The send being guarded: counts its calls, answers a numbered delivery, or fails as told."""

    def __init__(self, name: str, fail: BaseException | None = None) -> None:
        self.name = name
        self.fail = fail
        self.calls = 0

    def __call__(self, message: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return {"delivery_id": f"{self.name}-{self.calls}", "kind": "forgot_password"}


def once(
    layer: Layer, send: Sender, remaining_ms: int = MINUTE_MS, table: str = TABLE
) -> Callable[..., dict[str, Any]]:
    """`send` guarded as IdempotentEmail guards the email's send (same key, window and record name), in an
    invocation that ends `remaining_ms` from now."""
    config = IdempotencyConfig(event_key_jmespath=EVENT_KEY, expires_after_seconds=IDEMPOTENCY_WINDOW_S)
    config.register_lambda_context(cast(LambdaContext, Context(remaining_ms)))  # all Powertools reads of it

    def _send(message: dict[str, Any]) -> dict[str, Any]:
        return send(message)

    guarded: Callable[..., dict[str, Any]] = idempotent_function(
        data_keyword_argument="message",
        config=config,
        persistence_store=layer(table),
        key_prefix=f"{FUNCTION}.{RECORD_NAME}",
    )(_send)
    return guarded


def message(intent_id: str = "i-1") -> dict[str, Any]:
    return {"intent_id": intent_id, "member_id": MEMBER_ID, "body": "{}"}


def record_key(intent_id: str = "i-1") -> str:
    """Powertools' key: the prefix and the md5 of the JSON of what EVENT_KEY selects."""
    selected = json.dumps([MEMBER_ID, intent_id], sort_keys=True).encode()
    return f"{FUNCTION}.{RECORD_NAME}#{hashlib.md5(selected).hexdigest()}"  # noqa: S324 - Powertools' hash


def dynamodb() -> Any:
    return boto3.client("dynamodb", region_name=REGION)


def stored(table: str = TABLE, intent_id: str = "i-1") -> dict[str, Any] | None:
    key = {"id": {"S": record_key(intent_id)}}
    item: dict[str, Any] | None = (
        dynamodb().get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    )
    return item


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        for table in (TABLE, OTHER_TABLE):  # as template.yaml's IdempotencyTable
            dynamodb().create_table(
                TableName=table,
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
        yield


@BOTH_WAYS
def test_a_completed_send_is_not_repeated_and_its_response_comes_back(first: Layer, second: Layer) -> None:
    sent, again = Sender("first"), Sender("second")
    response = once(first, sent)(message=message())
    assert (
        once(second, again)(message=message())
        == response
        == {"delivery_id": "first-1", "kind": "forgot_password"}
    )
    assert (sent.calls, again.calls) == (1, 0)
    item = stored()
    assert item is not None
    assert item["status"] == {"S": "COMPLETED"}


def test_the_email_function_honours_a_send_completed_through_powertools_layer() -> None:
    once(powertools, Sender("before"))(message=message())  # as the email function sent it until now
    intent = SendEmail("i-1", MEMBER_ID, "forgot_password", {})
    sent: list[SendEmail] = []

    def send(intent: SendEmail, deadline: float | None) -> EmailSent:
        sent.append(intent)
        return EmailSent(intent.intent_id, intent.kind, "d-2")

    email = IdempotentEmail(TABLE, send, aws_client("dynamodb"))
    email.register_lambda_context(Context(MINUTE_MS))
    email(intent, intent.to_json(), None)
    assert sent == []
    other = SendEmail("i-2", MEMBER_ID, "forgot_password", {})
    email(other, other.to_json(), None)
    assert sent == [other]  # another intent is sent


@BOTH_WAYS
def test_a_send_in_progress_is_not_started_again(first: Layer, second: Layer) -> None:
    with pytest.raises(Crash):
        once(first, Sender("first", fail=Crash()))(message=message())
    item = stored()
    assert item is not None
    assert item["status"] == {"S": "INPROGRESS"}
    again = Sender("second")
    with pytest.raises(IdempotencyAlreadyInProgressError):
        once(second, again)(message=message())
    assert again.calls == 0


@BOTH_WAYS
def test_a_send_whose_invocation_ended_is_taken_over(first: Layer, second: Layer) -> None:
    with pytest.raises(Crash):
        once(first, Sender("first", fail=Crash()), -MINUTE_MS)(message=message())
    item = stored()
    assert item is not None
    assert item["status"] == {"S": "INPROGRESS"}
    assert int(item["in_progress_expiration"]["N"]) < time.time() * 1000  # ended a minute before the write
    again = Sender("second")
    assert once(second, again)(message=message())["delivery_id"] == "second-1"
    item = stored()
    assert item is not None
    assert item["status"] == {"S": "COMPLETED"}


@BOTH_WAYS
def test_an_expired_record_is_overwritten(first: Layer, second: Layer) -> None:
    once(first, Sender("first"))(message=message())
    expired = str(int(time.time()) - 60)  # DynamoDB's TTL deletes late: the item can outlive its expiration
    dynamodb().update_item(
        TableName=TABLE,
        Key={"id": {"S": record_key()}},
        UpdateExpression="SET expiration = :expired",
        ExpressionAttributeValues={":expired": {"N": expired}},
    )
    again = Sender("second")
    assert once(second, again)(message=message())["delivery_id"] == "second-1"
    item = stored()
    assert item is not None
    assert item["data"] == {
        "S": json.dumps({"delivery_id": "second-1", "kind": "forgot_password"}, sort_keys=True)
    }
    assert int(item["expiration"]["N"]) > int(expired) + IDEMPOTENCY_WINDOW_S  # a new window


@BOTH_WAYS
def test_a_failed_send_leaves_no_record_so_a_retry_sends(first: Layer, second: Layer) -> None:
    with pytest.raises(RuntimeError, match="App API down"):
        once(first, Sender("first", fail=RuntimeError("App API down")))(message=message())
    assert stored() is None
    retry = Sender("retry")
    assert once(second, retry)(message=message())["delivery_id"] == "retry-1"


def shape(item: dict[str, Any]) -> dict[str, list[str]]:
    """An item's attribute names and DynamoDB types."""
    return {name: sorted(value) for name, value in item.items()}


@pytest.mark.parametrize("crash", [False, True], ids=["completed", "in progress"])
def test_both_layers_write_the_same_attributes(crash: bool) -> None:
    items = []
    for layer, table in ((ours, TABLE), (powertools, OTHER_TABLE)):
        send = once(layer, Sender("same", fail=Crash() if crash else None), table=table)
        if crash:
            with pytest.raises(Crash):
                send(message=message())
        else:
            send(message=message())
        item = stored(table)
        assert item is not None
        items.append(item)
    ours_item, powertools_item = items
    assert shape(ours_item) == shape(powertools_item)
    expected = {"id", "expiration", "status", "in_progress_expiration"} | (set() if crash else {"data"})
    assert set(ours_item) == expected
    for name in ("id", "status", "data"):
        assert ours_item.get(name) == powertools_item.get(name)
