"""The botocore idempotency store against Powertools' own DynamoDB layer, call for call.

Both layers run on clients that record each request and answer from a script, with one frozen clock, so
every request and every outcome can be compared exactly.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence import dynamodb as powertools_dynamodb
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from botocore.exceptions import ClientError

from cio_sync.adapters import idempotency_store
from cio_sync.adapters.idempotency_store import BotocorePersistenceLayer

TABLE = "idempotency"
KEY = "fn.send#0123abcd"
NOW = 1_800_000_000.25  # both layers' clock for the put's condition values
LATER_S = 4_000_000_000  # an expiry no real clock reaches while these tests matter
Item = dict[str, dict[str, Any]]
Calls = list[tuple[str, dict[str, Any]]]


class RecordingClient:
    """A DynamoDB client that records each request; get_item answers `item`, put_item raises `put_error`."""

    def __init__(self, item: Item | None = None, put_error: ClientError | None = None) -> None:
        self.calls: Calls = []
        self._item = item
        self._put_error = put_error

    def get_item(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("get_item", request))
        return {} if self._item is None else {"Item": self._item}

    def put_item(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("put_item", request))
        if self._put_error is not None:
            raise self._put_error
        return {}

    def update_item(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("update_item", request))
        return {}

    def delete_item(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("delete_item", request))
        return {}


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idempotency_store, "time", SimpleNamespace(time=lambda: NOW))
    frozen = SimpleNamespace(datetime=SimpleNamespace(now=lambda: dt.datetime.fromtimestamp(NOW)))
    monkeypatch.setattr(powertools_dynamodb, "dt", frozen)


def both(
    validation: bool = False, item: Item | None = None, put_error: ClientError | None = None
) -> tuple[BasePersistenceLayer, BasePersistenceLayer, RecordingClient, RecordingClient]:
    """Ours and Powertools' layer, configured alike, each on its own scripted client."""
    config = IdempotencyConfig(
        event_key_jmespath="id",
        payload_validation_jmespath="body" if validation else "",
        use_local_cache=True,
    )
    our_client, their_client = RecordingClient(item, put_error), RecordingClient(item, put_error)
    ours = BotocorePersistenceLayer(our_client, TABLE)
    theirs = DynamoDBPersistenceLayer(table_name=TABLE, boto3_client=their_client)
    for layer in (ours, theirs):
        layer.configure(config, key_prefix="fn.send")
    return ours, theirs, our_client, their_client


def summary(record: DataRecord) -> tuple[Any, ...]:
    """What Powertools reads of a record (a missing hash is "" here, None there: alike in every use)."""
    return (
        record.idempotency_key,
        record.status,
        record.expiry_timestamp,
        record.in_progress_expiry_timestamp,
        record.response_json_as_dict(),
        record.payload_hash or "",
    )


RECORDS = {
    "in progress, invocation's end known": DataRecord(
        KEY, "INPROGRESS", LATER_S, in_progress_expiry_timestamp=1_800_000_030_000, payload_hash="ph"
    ),
    "in progress, no Lambda context": DataRecord(KEY, "INPROGRESS", LATER_S),
    "completed": DataRecord(
        KEY, "COMPLETED", LATER_S, response_data='{"delivery_id": "d-1"}', payload_hash="ph"
    ),
}


@pytest.mark.parametrize("validation", [False, True], ids=["no validation", "payload validation"])
@pytest.mark.parametrize("record", RECORDS.values(), ids=RECORDS.keys())
def test_every_request_is_the_one_powertools_makes(validation: bool, record: DataRecord) -> None:
    ours, theirs, our_client, their_client = both(validation)
    for layer in (ours, theirs):
        layer._put_record(record)
        layer._update_record(record)
        layer._delete_record(record)
        with pytest.raises(IdempotencyItemNotFoundError):
            layer._get_record(KEY)
    assert our_client.calls == their_client.calls
    put = our_client.calls[0][1]
    assert put["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    assert put["ExpressionAttributeValues"][":now_in_millis"] == {"N": "1800000000250"}


ITEMS: dict[str, Item] = {
    "completed": {
        "id": {"S": KEY},
        "expiration": {"N": str(LATER_S)},
        "status": {"S": "COMPLETED"},
        "data": {"S": '{"delivery_id": "d-1", "kind": "forgot_password"}'},
        "validation": {"S": "ph"},
    },
    "in progress": {
        "id": {"S": KEY},
        "expiration": {"N": str(LATER_S)},
        "in_progress_expiration": {"N": "1800000030000"},
        "status": {"S": "INPROGRESS"},
    },
    "expired, with an attribute of another writer": {
        "id": {"S": KEY},
        "expiration": {"N": "1700000000"},
        "status": {"S": "COMPLETED"},
        "data": {"S": "null"},
        "note": {"L": [{"BOOL": True}]},
    },
    "fractional timestamps and NULL data, as no layer writes them": {
        "id": {"S": KEY},
        "expiration": {"N": f"{LATER_S}.5"},
        "in_progress_expiration": {"N": "1800000030000.25"},
        "status": {"S": "COMPLETED"},
        "data": {"NULL": True},
        "validation": {"NULL": True},
    },
}


@pytest.mark.parametrize("item", ITEMS.values(), ids=ITEMS.keys())
def test_an_item_reads_as_powertools_reads_it(item: Item) -> None:
    ours, theirs, _, _ = both(item=item)
    record = ours._get_record(KEY)
    assert summary(record) == summary(theirs._get_record(KEY))
    assert record.status == theirs._get_record(KEY).status
    assert type(record.expiry_timestamp) is (int if item["expiration"]["N"].isdigit() else Decimal)


def conditional_check_failed(item: Item | None) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": "ConditionalCheckFailedException", "Message": "failed"}}
    if item is not None:
        response["Item"] = item
    return ClientError(response, "PutItem")


def refused_put(layer: BasePersistenceLayer, record: DataRecord) -> IdempotencyItemAlreadyExistsError:
    with pytest.raises(IdempotencyItemAlreadyExistsError) as raised:
        layer._put_record(record)
    assert isinstance(raised.value.__cause__, ClientError)
    return raised.value


@pytest.mark.parametrize("held_by", ["completed", "in progress"])
def test_a_held_key_raises_with_the_record_in_the_way(held_by: str) -> None:
    ours, theirs, _, _ = both(put_error=conditional_check_failed(ITEMS[held_by]))
    record = RECORDS["in progress, no Lambda context"]
    old = [refused_put(layer, record).old_data_record for layer in (ours, theirs)]
    assert old[0] is not None
    assert old[1] is not None
    assert summary(old[0]) == summary(old[1])
    cached = [layer._retrieve_from_cache(KEY) for layer in (ours, theirs)]  # completed records only
    assert [record is not None for record in cached] == [held_by == "completed"] * 2


def test_a_refusal_without_the_old_item_raises_the_plain_error() -> None:
    ours, theirs, _, _ = both(put_error=conditional_check_failed(None))
    for layer in (ours, theirs):
        assert refused_put(layer, RECORDS["completed"]).old_data_record is None


def test_a_held_key_for_another_payload_fails_validation() -> None:
    other_payload = {**ITEMS["completed"], "validation": {"S": "another hash"}}
    ours, theirs, _, _ = both(validation=True, put_error=conditional_check_failed(other_payload))
    for layer in (ours, theirs):
        with pytest.raises(IdempotencyValidationError) as raised:
            layer._put_record(RECORDS["completed"])
        assert isinstance(raised.value.__cause__, ClientError)


def test_other_failures_of_the_put_are_raised_as_they_are() -> None:
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutItem")
    ours, theirs, _, _ = both(put_error=throttled)
    for layer in (ours, theirs):
        with pytest.raises(ClientError) as raised:
            layer._put_record(RECORDS["completed"])
        assert raised.value is throttled


def test_an_attribute_of_another_type_is_refused_by_name_only() -> None:
    ours, _, _, _ = both(item={**ITEMS["completed"], "status": {"BOOL": True}})
    with pytest.raises(ValueError, match="attribute status has type") as raised:
        ours._get_record(KEY)
    assert KEY not in str(raised.value)
