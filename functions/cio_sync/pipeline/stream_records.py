"""member-stream's reading of one DynamoDB stream record: parsed, checked, or the reason it is parked.

Kept apart from the batch walk (pipeline/member_stream.py) so each says one thing: what a record is, and
what a batch does with its records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.shared.dynamodb_deserializer import TypeDeserializer

from cio_sync.members.contract import TOPIC_FIELDS, InvalidMember, MemberItem, validate_fields
from cio_sync.members.raw_writes import RULE_INPUTS, check_rule_inputs
from cio_sync.members.subscriptions import MUTED_AT
from cio_sync.sync.diff import parked_intents
from cio_sync.sync.intents import Intent

EVENT_NAMES = frozenset({"INSERT", "MODIFY", "REMOVE"})
_DESERIALIZER = TypeDeserializer()


class MalformedRecord(ValueError):
    """A stream record that no retry can fix; the reason names what is wrong, never member data."""


@dataclass(frozen=True)
class MemberChange:
    """A parsed stream record: the member's item before and after one write."""

    sequence_number: str
    record_id: str
    member_id: str
    old: MemberItem | None
    new: MemberItem | None
    at_ms: int

    @property
    def now(self) -> str:
        """The write's time as the rules stamp it (a replay decides the same value)."""
        return datetime.fromtimestamp(self.at_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


@dataclass
class Entry:
    """One record of the batch as read: its change, or why it cannot be handled (parked later)."""

    record: Mapping[str, Any]
    sequence_number: str | None
    change: MemberChange | None = None
    problem: str | None = None
    malformed: bool = False
    repairs: bool = False  # its old image broke the contract: judged on its new image (see `repaired`)
    # What a parked record of a real member still yields: a sync of its current item, and the email its
    # write calls for (it depends only on `password_updated_at` and `email`, not on the broken attribute).
    fallback: list[Intent] = field(default_factory=list)


def read_entry(record: Mapping[str, Any]) -> Entry:
    """Parse a record and check the member id and the rule inputs of its new image (and its old one)."""
    sequence = (record.get("dynamodb") or {}).get("SequenceNumber")
    entry = Entry(record, sequence if isinstance(sequence, str) else None)
    try:
        change = parse_change(record)
    except MalformedRecord as error:
        entry.problem, entry.malformed = f"malformed record: {error}", True
        return entry
    entry.change, entry.sequence_number = change, change.sequence_number
    try:
        check_rule_inputs(change.member_id, change.new)
    except InvalidMember as error:
        entry.problem = f"breaks the member contract: {error}"
        entry.fallback = fallback_for(change)
        return entry
    if change.old is not None:
        try:
            check_rule_inputs(change.member_id, change.old)
        except InvalidMember:
            entry.change, entry.repairs = replace(change, old=repaired(change.old)), True
    return entry


def fallback_for(change: MemberChange) -> list[Intent]:
    """Make Customer.io follow the member's current item whatever this record held (members only)."""
    return parked_intents(change.member_id, change.old, change.new, change.record_id, change.at_ms)


def repaired(old: Mapping[str, Any]) -> MemberItem:
    """An old image whose rule inputs break the contract, as the rules can read it, so the write that
    repairs it is judged on its new image against what the old one validly said.

    Topics keep their valid entries (a retired one is ignored, so keeping the others is no new pick); a
    status of the wrong type is absent; a mute of any shape stays a mute (the member was silent).
    """
    item = dict(old)
    for name in RULE_INPUTS:
        try:
            validate_fields(item, [name])
        except InvalidMember:
            value = item.pop(name)
            if name in TOPIC_FIELDS and isinstance(value, list):
                allowed = TOPIC_FIELDS[name]
                item[name] = list(dict.fromkeys(topic for topic in value if topic in allowed))
            elif name == MUTED_AT:
                item[name] = value
    return item
