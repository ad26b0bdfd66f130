"""Events as Lambda delivers them: DynamoDB stream records and SQS messages, and partial batch responses.

`stream_record` and `sqs_record` turn what `get_records` and `receive_message` return (as boto3 parses
them) into the records Lambda puts in an event; `failed_identifiers` reads a partial batch response the way
Lambda does.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any


def _wire_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB attribute value as JSON carries it: binary as base64 text, containers recursively."""
    ((kind, content),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(bytes(content)).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(bytes(item)).decode() for item in content]}
    if kind == "M":
        return {"M": {name: _wire_attribute(item) for name, item in content.items()}}
    if kind == "L":
        return {"L": [_wire_attribute(item) for item in content]}
    return {kind: content}


def _wire_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _wire_attribute(value) for name, value in item.items()}


def _epoch_seconds(value: Any) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp())
    return int(float(value))


def stream_record(raw: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A `get_records` record (as boto3 parses it) -> the record Lambda puts in a DynamoDB stream event."""
    source = raw["dynamodb"]
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": _epoch_seconds(source["ApproximateCreationDateTime"])
    }
    dynamodb["Keys"] = _wire_item(source["Keys"])
    for image in ("NewImage", "OldImage"):
        if image in source:
            dynamodb[image] = _wire_item(source[image])
    dynamodb["SequenceNumber"] = source["SequenceNumber"]
    dynamodb["SizeBytes"] = source["SizeBytes"]
    dynamodb["StreamViewType"] = source["StreamViewType"]
    record: dict[str, Any] = {
        "eventID": raw["eventID"],
        "eventName": raw["eventName"],
        "eventVersion": raw.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": raw.get("awsRegion", region),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in raw:
        record["userIdentity"] = {
            "type": raw["userIdentity"]["Type"],
            "principalId": raw["userIdentity"]["PrincipalId"],
        }
    return record


def _lambda_message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(bytes(value["BinaryValue"])).decode()
    attribute["stringListValues"] = list(value.get("StringListValues", []))
    attribute["binaryListValues"] = [
        base64.b64encode(bytes(item)).decode() for item in value.get("BinaryListValues", [])
    ]
    attribute["dataType"] = value["DataType"]
    return attribute


_SQS_SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """A `receive_message` message -> the record Lambda puts in an SQS event."""
    received = message.get("Attributes", {})
    attributes = {name: received[name] for name in _SQS_SYSTEM_ATTRIBUTES if name in received}
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": {
            name: _lambda_message_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update({"eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region})
    return record


def failed_identifiers(response: Any, identifiers: Sequence[str]) -> list[str] | None:
    """The identifiers a partial batch response reports, or None when Lambda would fail the whole batch.

    Per Lambda: a null/empty response or list is complete success; an entry that is malformed, empty or
    names an identifier not in the batch fails the whole batch.
    """
    if response is None:
        return []
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures")
    if failures is None:
        return []
    if not isinstance(failures, list):
        return None
    known = set(identifiers)
    reported: list[str] = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in known:
            return None
        reported.append(identifier)
    return reported
