"""The local moto server's speed-ups answer exactly as moto itself does (compared with moto in-process)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cio_sync_local.moto_server import MotoServer

pytestmark = pytest.mark.integration


def _client(service: str, endpoint: str | None) -> Any:
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    return session.client(service, endpoint_url=endpoint)


def _answers(endpoint: str | None) -> list[Any]:
    """Item, batch, query, transaction and stream answers, each twice (a second parse of each expression)."""
    dynamodb, streams = _client("dynamodb", endpoint), _client("dynamodbstreams", endpoint)
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    item = {
        "id": {"S": "a"},
        "n": {"N": "1"},
        "l": {"L": [{"S": "x"}, {"NULL": True}]},
        "m": {"M": {"k": {"BOOL": True}}},
        "b": {"B": b"\x00\x01"},
        "ss": {"SS": ["p", "q"]},
    }
    answers: list[Any] = [dynamodb.put_item(TableName="t", Item=item, ReturnValues="ALL_OLD")]
    for value in ("2", "3"):
        answers.append(
            dynamodb.update_item(
                TableName="t",
                Key={"id": {"S": "a"}},
                UpdateExpression="SET n = :n",
                ConditionExpression="attribute_exists(id) AND n < :n",
                ExpressionAttributeValues={":n": {"N": value}},
                ReturnValues="ALL_NEW",
            )
        )
    answers.append(dynamodb.get_item(TableName="t", Key={"id": {"S": "a"}}, ConsistentRead=True))
    answers.append(dynamodb.get_item(TableName="t", Key={"id": {"S": "missing"}}))
    answers.append(
        dynamodb.batch_get_item(RequestItems={"t": {"Keys": [{"id": {"S": "a"}}, {"id": {"S": "x"}}]}})
    )
    answers.append(
        dynamodb.query(
            TableName="t", KeyConditionExpression="id = :i", ExpressionAttributeValues={":i": {"S": "a"}}
        )
    )
    answers.append(dynamodb.scan(TableName="t", Limit=1))
    answers.append(
        dynamodb.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": {"id": {"S": "c"}}}}]})
    )
    answers.append(
        dynamodb.transact_write_items(TransactItems=[{"Put": {"TableName": "t", "Item": {"id": {"S": "d"}}}}])
    )
    for _ in range(2):
        try:
            dynamodb.put_item(
                TableName="t",
                Item={"id": {"S": "a"}},
                ConditionExpression="attribute_not_exists(id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except dynamodb.exceptions.ConditionalCheckFailedException as error:
            answers.append(error.response["Error"]["Code"])
    answers.append(dynamodb.delete_item(TableName="t", Key={"id": {"S": "c"}}, ReturnValues="ALL_OLD"))
    stream = dynamodb.describe_table(TableName="t")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=stream)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])
    for record in records["Records"]:  # random or moto's own estimate, whichever way it is answered
        record.pop("eventID")
        record["dynamodb"].pop("SizeBytes")
        record["dynamodb"]["ApproximateCreationDateTime"] = type(
            record["dynamodb"]["ApproximateCreationDateTime"]
        )
    answers.append(records["Records"])
    for answer in answers:
        if isinstance(answer, dict):
            answer.pop("ResponseMetadata", None)
    return answers


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    with MotoServer() as moto:
        yield moto


def test_answers_are_moto_s_own(server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")  # Streams 404 in-process otherwise
    with mock_aws():
        expected = _answers(None)
    assert _answers(server.endpoint) == expected


def test_connections_are_kept_alive_between_requests(server: MotoServer) -> None:
    dynamodb = _client("dynamodb", server.endpoint)
    answers = [dynamodb.list_tables()["ResponseMetadata"]["HTTPHeaders"] for _ in range(3)]
    assert all(headers.get("connection") != "close" for headers in answers)
