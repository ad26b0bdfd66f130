"""member-stream: one pass over a DynamoDB stream batch -> mute rule enforced -> intents on the queues.

Fan-out happens here once per stream record (a shard allows at most two readers). Records are handled in
order; the first record that fails for a reason that can pass (a throttled write, a queue outage) is
reported, so Lambda retries from it. A record that can never be parsed goes to the failure queue with its
reason and does not hold up the shard.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from cio_sync.members.contract import InvalidMember, MemberItem
from cio_sync.members.subscriptions import apply_subscription_rules
from cio_sync.observability import logger
from cio_sync.pipeline.messages import TrackMessage, pack_lanes
from cio_sync.sync.diff import diff
from cio_sync.sync.intents import Intent, SendEmail

EVENT_NAMES = frozenset({"INSERT", "MODIFY", "REMOVE"})


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


# What the rules may change on a write; everything else is the writer's.
RULE_FIELDS = (
    "email_subscription_status",
    "email_subscription_topics",
    "sms_subscription_topics",
    "promotions_muted_at",
)


class RuleDecisionWriter(Protocol):
    def write_rule_decisions(
        self, member_id: str, seen: Mapping[str, Any], decided: Mapping[str, Any]
    ) -> bool: ...


class IntentPublisher(Protocol):
    def publish_track(self, messages: Sequence[TrackMessage]) -> list[int]:
        """Send messages; return the indexes of those that could not be sent."""
        ...

    def publish_email(self, intents: Sequence[SendEmail]) -> list[int]:
        """Send email intents; return the indexes of those that could not be sent."""
        ...

    def record_stream_failure(self, record: Mapping[str, Any], reason: str) -> None:
        """Park an unparseable record with its reason (the stream's failure queue)."""
        ...


@dataclass
class StreamBatchResult:
    failed_sequence_numbers: list[str] = field(default_factory=list)
    intents: int = 0
    rule_decisions_written: int = 0
    malformed: int = 0


def parse_change(record: Mapping[str, Any]) -> MemberChange:
    """Turn one raw Lambda DynamoDB stream record into a MemberChange (images deserialised by Powertools)."""
    wrapped = DynamoDBRecord(dict(record))
    event_name = record.get("eventName")
    if event_name not in EVENT_NAMES:
        raise MalformedRecord(f"unknown eventName {event_name!r}")
    stream = wrapped.dynamodb
    if stream is None or not stream.sequence_number:
        raise MalformedRecord("record has no dynamodb section or sequence number")
    try:
        keys = stream.keys
        old = stream.old_image or None
        new = stream.new_image or None
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise MalformedRecord(f"images cannot be deserialised ({type(error).__name__})") from error
    member_id = keys.get("id")
    if not isinstance(member_id, str) or not member_id:
        raise MalformedRecord("record keys carry no string id")
    if event_name != "REMOVE" and new is None:
        raise MalformedRecord(f"{event_name} record has no NewImage (stream view must be NEW_AND_OLD_IMAGES)")
    created = stream.approximate_creation_date_time
    if not created:
        # Its time seeds the intent ids and the rules' `now`: without it a replay would not repeat them.
        raise MalformedRecord("record has no ApproximateCreationDateTime")
    at_ms = int(created) * 1000
    record_id = str(record.get("eventID") or stream.sequence_number)
    return MemberChange(stream.sequence_number, record_id, member_id, old, new, at_ms)


def enforce_rules(change: MemberChange, writer: RuleDecisionWriter) -> bool:
    """Apply the subscription rules to a raw write that did not, and write their decision back.

    The write is conditional on the values this record saw, so a concurrent write is never overwritten;
    it then arrives as its own stream record, which carries the profile change. A write that already
    followed the rules (every model write does) decides nothing. Returns True when a decision was written.
    """
    if change.new is None:
        return False
    now = datetime.fromtimestamp(change.at_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ruled = apply_subscription_rules(change.old, change.new, now)
    decided = {name: ruled.get(name) for name in RULE_FIELDS if ruled.get(name) != change.new.get(name)}
    if not decided:
        return False
    try:
        written = writer.write_rule_decisions(change.member_id, change.new, decided)
    except InvalidMember as error:
        # The raw item breaks the contract: its writer must fix it; retrying cannot.
        logger.error(
            "raw write breaks the member contract",
            extra={"member_id": change.member_id, "field": error.field},
        )
        return False
    logger.info(
        "subscription rules enforced on a raw write",
        extra={"member_id": change.member_id, "fields": sorted(decided), "written": written},
    )
    return written


def process_stream_batch(
    records: Iterable[Mapping[str, Any]],
    writer: RuleDecisionWriter,
    publisher: IntentPublisher,
    lanes: int,
) -> StreamBatchResult:
    """Handle a stream batch in order; report the first record that must be retried."""
    result = StreamBatchResult()
    changes: list[tuple[MemberChange, list[Intent]]] = []
    for record in records:
        try:
            change = parse_change(record)
        except MalformedRecord as error:
            result.malformed += 1
            logger.error("unparseable stream record parked", extra={"reason": str(error)})
            publisher.record_stream_failure(record, str(error))
            continue
        try:
            if enforce_rules(change, writer):
                result.rule_decisions_written += 1
            intents = diff(change.old, change.new, change.record_id, change.at_ms)
        except Exception:
            logger.exception(
                "stream record failed; Lambda will retry from it", extra={"member_id": change.member_id}
            )
            result.failed_sequence_numbers.append(change.sequence_number)
            break
        changes.append((change, intents))

    first_failed = _publish(changes, publisher, lanes)
    if first_failed is not None:
        result.failed_sequence_numbers.insert(0, first_failed)
        result.failed_sequence_numbers = result.failed_sequence_numbers[:1]
    result.intents = sum(len(intents) for _, intents in changes)
    return result


def _publish(
    changes: Sequence[tuple[MemberChange, list[Intent]]], publisher: IntentPublisher, lanes: int
) -> str | None:
    """Send every intent; return the sequence number of the earliest record whose intents did not go."""
    track_intents: list[Intent] = []
    emails: list[SendEmail] = []
    origin: dict[str, int] = {}
    for position, (_, intents) in enumerate(changes):
        for intent in intents:
            origin[intent.intent_id] = position
            if isinstance(intent, SendEmail):
                emails.append(intent)
            else:
                track_intents.append(intent)
    messages = pack_lanes(track_intents, lanes)
    failed_positions: list[int] = []
    for index in publisher.publish_track(messages):
        failed_positions.extend(origin[intent.intent_id] for intent in messages[index].intents)
    for index in publisher.publish_email(emails):
        failed_positions.append(origin[emails[index].intent_id])
    if not failed_positions:
        return None
    return changes[min(failed_positions)][0].sequence_number
