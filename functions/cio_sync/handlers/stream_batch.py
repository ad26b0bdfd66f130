"""DynamoDB stream events in, typed changes out: each record parsed once, at the edge (as sqs_batch does
for SQS). A record no retry can fix becomes a StreamRecord with its reason; the pipeline parks it.

Images are deserialised as Powertools' DynamoDBRecord does, with its deserializer, without importing every
event class it comes with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.shared.dynamodb_deserializer import TypeDeserializer

from cio_sync.pipeline.stream_records import MemberChange, StreamRecord

EVENT_NAMES = frozenset({"INSERT", "MODIFY", "REMOVE"})
_DESERIALIZER = TypeDeserializer()


class MalformedRecord(ValueError):
    """A stream record that no retry can fix; the reason names what is wrong, never member data."""


def stream_records(event: Mapping[str, Any]) -> list[StreamRecord]:
    """The records of a stream event, as the member-stream pipeline sees them."""
    return [stream_record(record) for record in event.get("Records") or []]


def stream_record(record: Mapping[str, Any]) -> StreamRecord:
    try:
        change = parse_change(record)
    except MalformedRecord as error:
        sequence = (record.get("dynamodb") or {}).get("SequenceNumber")
        return StreamRecord(record, sequence if isinstance(sequence, str) else None, malformed=str(error))
    return StreamRecord(record, change.sequence_number, change)


def parse_change(record: Mapping[str, Any]) -> MemberChange:
    """Turn one raw Lambda DynamoDB stream record into a MemberChange (images deserialised as Powertools'
    DynamoDBRecord does, with its deserializer, without importing every event class it comes with)."""
    event_name = record.get("eventName")
    if event_name not in EVENT_NAMES:
        raise MalformedRecord(f"unknown eventName {event_name!r}")
    stream = record.get("dynamodb")
    if not isinstance(stream, Mapping) or not stream.get("SequenceNumber"):
        raise MalformedRecord("record has no dynamodb section or sequence number")
    sequence_number = str(stream["SequenceNumber"])
    try:
        keys = _deserialised(stream, "Keys")
        old = _deserialised(stream, "OldImage") or None
        new = _deserialised(stream, "NewImage") or None
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise MalformedRecord(f"images cannot be deserialised ({type(error).__name__})") from error
    member_id = keys.get("id")
    if not isinstance(member_id, str) or not member_id:
        raise MalformedRecord("record keys carry no string id")
    if event_name != "REMOVE" and new is None:
        raise MalformedRecord(f"{event_name} record has no NewImage (stream view must be NEW_AND_OLD_IMAGES)")
    created = stream.get("ApproximateCreationDateTime")
    if not created:
        # Its time seeds the intent ids and the rules' `now`: without it a replay would not repeat them.
        raise MalformedRecord("record has no ApproximateCreationDateTime")
    at_ms = int(created) * 1000
    record_id = str(record.get("eventID") or sequence_number)
    return MemberChange(sequence_number, record_id, member_id, old, new, at_ms)


def _deserialised(stream: Mapping[str, Any], key: str) -> dict[str, Any]:
    image = stream.get(key) or {}
    return {name: _DESERIALIZER.deserialize(value) for name, value in image.items()}
