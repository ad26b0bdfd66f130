"""The moto patch the import's transactions rely on (cio_sync_local.moto_transactions), in-process."""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table

from tests.integration.imports.conftest import REGION

TABLES = ("claims", "people")


@pytest.fixture
def dynamodb(aws: None) -> Any:
    client = boto3.client("dynamodb", region_name=REGION)
    for name in TABLES:
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
    return client


def mute(person: str, claim: str, *, claim_must_be_new: bool = True) -> list[dict[str, Any]]:
    return [
        {
            "Update": {
                "TableName": "people",
                "Key": {"id": {"S": person}},
                "UpdateExpression": "SET muted = :yes",
                "ConditionExpression": "attribute_exists(id)",
                "ExpressionAttributeValues": {":yes": {"BOOL": True}},
            }
        },
        {
            "Put": {
                "TableName": "claims",
                "Item": {"id": {"S": claim}, "outcome": {"S": "muted"}},
                **(
                    {
                        "ConditionExpression": "attribute_not_exists(id)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                    if claim_must_be_new
                    else {}
                ),
            }
        },
    ]


def stream_records(table: str) -> int:
    """What the table's stream holds (read from moto's backend: its in-process DescribeStream is missing)."""
    shard = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].tables[table].stream_shard
    assert shard is not None
    return len(shard.items)


def test_a_transaction_copies_no_table_and_still_writes_all_or_nothing(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto's own implementation deep-copies every table it touches, for each transaction: time in the size
    of the tables (half a second with 10,000 members), per mute."""
    real = copy.deepcopy

    def no_tables(value: Any, memo: Any = None) -> Any:
        assert not isinstance(value, Table), "a transaction copied a whole table"
        return real(value, memo)

    monkeypatch.setattr(copy, "deepcopy", no_tables)
    dynamodb.put_item(TableName="people", Item={"id": {"S": "p1"}})
    dynamodb.transact_write_items(TransactItems=mute("p1", "c1"))
    assert dynamodb.get_item(TableName="people", Key={"id": {"S": "p1"}})["Item"]["muted"] == {"BOOL": True}
    assert "Item" in dynamodb.get_item(TableName="claims", Key={"id": {"S": "c1"}})

    dynamodb.put_item(TableName="people", Item={"id": {"S": "p2"}})
    before = stream_records("people")
    with pytest.raises(ClientError) as caught:
        dynamodb.transact_write_items(TransactItems=mute("p2", "c1"))
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    member, claim = caught.value.response["CancellationReasons"]
    assert member == {"Code": "None"}
    assert claim["Code"] == "ConditionalCheckFailed"
    assert claim["Item"]["outcome"] == {"S": "muted"}
    assert "muted" not in dynamodb.get_item(TableName="people", Key={"id": {"S": "p2"}})["Item"]
    # The update whose own condition held was never applied, so the stream never saw it.
    assert stream_records("people") == before


def test_transactions_and_writes_on_many_threads_lose_nothing(dynamodb: Any) -> None:
    people = [f"p{number}" for number in range(200)]
    for person in people:
        dynamodb.put_item(TableName="people", Item={"id": {"S": person}})

    def work(person: str) -> None:
        dynamodb.transact_write_items(TransactItems=mute(person, f"c-{person}"))
        # Half are cancelled (the claim exists now), and must undo nobody else's write.
        with pytest.raises(ClientError):
            dynamodb.transact_write_items(TransactItems=mute(person, f"c-{person}"))
        dynamodb.put_item(TableName="claims", Item={"id": {"S": f"other-{person}"}})

    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(work, people))
    claims = dynamodb.scan(TableName="claims")["Items"]
    muted = [item for item in dynamodb.scan(TableName="people")["Items"] if item.get("muted")]
    assert len(claims) == 2 * len(people)
    assert len(muted) == len(people)
