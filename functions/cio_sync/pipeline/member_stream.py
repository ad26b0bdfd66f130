"""member-stream: one pass over a DynamoDB stream batch -> rules enforced -> intents on the queues.

Fan-out happens here once per stream record (a shard allows at most two readers). Records are handled in
order. A record that no retry can fix (it cannot be parsed, its id or an attribute the rules read breaks
the contract, or handling it raised) is parked on the failure queue with its reason at once, and the
records behind it flow on. Only a failure that can pass (a throttled table, a queue outage) stops the
batch at that record, so Lambda retries from it.

Rules on racing raw writes (members/raw_writes.py): each record is decided on top of the previous record's
decision. The decision is written back only while the item is still the version the record showed (its
rule inputs and `updated_at`, which every writer changes); when a later write moved it, the later
record carries the decision forward (in this batch, or through the pending-decision store when it comes
in a later batch or a retry). A decision is never laid over a write it was not decided with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from aws_lambda_powertools.shared.dynamodb_deserializer import TypeDeserializer

from cio_sync.failures import TransientFailure
from cio_sync.members.contract import InvalidMember, MemberItem
from cio_sync.members.raw_writes import (
    RuleState,
    check_rule_inputs,
    decide,
    decisions,
    rule_outputs,
    rule_state,
    state_token,
)
from cio_sync.observability import logger
from cio_sync.pipeline.messages import TrackMessage, pack_lanes
from cio_sync.sync.diff import DEFAULT_VOLATILE_WINDOW_S, diff
from cio_sync.sync.intents import Intent, SendEmail

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


@dataclass(frozen=True)
class PendingDecision:
    """The rules' decision for one version of a member's item (named by `token`, see state_token).

    Kept when a later write moved the item before the decision could be written, so the later record
    is decided on top of it even when it comes in another batch or a retry. Ids and subscription flags
    only: no personal data.
    """

    member_id: str
    token: str
    outputs: RuleState


class RuleDecisionWriter(Protocol):
    def write_rule_decisions(
        self, member_id: str, expected: Mapping[str, Any], decided: Mapping[str, Any]
    ) -> bool:
        """Write `decided` if the item still holds `expected` (rule inputs and `updated_at`); else False."""
        ...


class PendingDecisions(Protocol):
    def find(self, wanted: Sequence[tuple[str, str]]) -> list[PendingDecision]:
        """The decisions kept for these (member id, token) pairs; the others are absent."""
        ...

    def keep(self, decisions: Sequence[PendingDecision]) -> None: ...


class IntentPublisher(Protocol):
    def publish_track(self, messages: Sequence[TrackMessage]) -> list[int]:
        """Send messages; return the indexes of those that could not be sent."""
        ...

    def publish_email(self, intents: Sequence[SendEmail]) -> list[int]:
        """Send email intents; return the indexes of those that could not be sent."""
        ...

    def record_stream_failure(self, record: Mapping[str, Any], reason: str) -> None:
        """Park a record with its reason (the stream's failure queue): its keys and position only."""
        ...


@dataclass
class StreamBatchResult:
    failed_sequence_numbers: list[str] = field(default_factory=list)
    intents: int = 0
    rule_decisions_written: int = 0
    decisions_carried: int = 0  # decided, but a later write came first: its record applies them
    malformed: int = 0  # records that cannot be read at all
    contract_violations: int = 0  # readable records whose item breaks the contract where it matters


@dataclass(frozen=True)
class _Decided:
    """What enforcing the rules on one record did; `applied` when the table holds the decision."""

    decision: PendingDecision
    applied: bool
    wrote: bool = False


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


def enforce_rules(
    change: MemberChange, before: PendingDecision | None, writer: RuleDecisionWriter
) -> _Decided | None:
    """Decide this write on top of the previous decision and write the result back if the item allows.

    `before` is used only when it belongs to this record's old image. Returns None after a REMOVE.
    """
    if change.new is None:
        return None
    carried = None
    if before is not None and change.old is not None and before.token == state_token(change.old):
        carried = before.outputs
    decided = decide(carried, change.old, change.new, change.now)
    decision = PendingDecision(change.member_id, state_token(change.new), rule_outputs(decided))
    wanted = decisions(decided, change.new)
    if not wanted:
        return _Decided(decision, applied=True)
    expected = {**rule_state(change.new), "updated_at": change.new.get("updated_at")}
    if writer.write_rule_decisions(change.member_id, expected, wanted):
        logger.info(
            "subscription rules enforced on a raw write",
            extra={"member_id": change.member_id, "fields": sorted(wanted)},
        )
        return _Decided(decision, applied=True, wrote=True)
    # A later write (or this record's own earlier delivery) moved the item: the next record carries it.
    logger.info(
        "the item moved on; the next record carries this decision",
        extra={"member_id": change.member_id, "fields": sorted(wanted)},
    )
    return _Decided(decision, applied=False)


def process_stream_batch(
    records: Iterable[Mapping[str, Any]],
    writer: RuleDecisionWriter,
    pending: PendingDecisions,
    publisher: IntentPublisher,
    lanes: int,
    *,
    volatile_window_s: int = DEFAULT_VOLATILE_WINDOW_S,
) -> StreamBatchResult:
    """Handle a stream batch in order; park what cannot succeed, report the first record to retry."""
    result = StreamBatchResult()
    readable = _readable(records, publisher, result)
    if not readable:
        return result
    first = readable[0][1].sequence_number
    try:
        latest = {d.member_id: d for d in pending.find(_first_old_versions(readable))}
    except TransientFailure:
        logger.exception("pending decisions could not be read; Lambda will retry the batch")
        result.failed_sequence_numbers = [first]
        return result

    changes: list[tuple[MemberChange, list[Intent]]] = []
    carried: list[PendingDecision] = []
    failed_at: str | None = None
    for record, change in readable:
        try:
            decided = enforce_rules(change, latest.get(change.member_id), writer)
            intents = diff(change.old, change.new, change.record_id, change.at_ms, volatile_window_s)
        except TransientFailure:
            logger.exception(
                "stream record failed; Lambda will retry from it", extra={"member_id": change.member_id}
            )
            failed_at = change.sequence_number
            break
        except Exception as error:
            result.contract_violations += 1
            latest.pop(change.member_id, None)
            _park(publisher, record, change.member_id, f"cannot be handled: {_describe(error)}")
            continue
        if decided is None:
            latest.pop(change.member_id, None)
        else:
            latest[change.member_id] = decided.decision
            result.rule_decisions_written += int(decided.wrote)
            if not decided.applied:
                carried.append(decided.decision)
        changes.append((change, intents))

    result.decisions_carried = len(carried)
    try:
        # Every one, not only each member's last: a retry may start from any record of the batch.
        pending.keep(carried)
    except TransientFailure:
        logger.exception("pending decisions could not be kept; Lambda will retry the batch")
        result.failed_sequence_numbers = [first]
        return result

    first_unpublished = _publish(changes, publisher, lanes)
    order = {change.sequence_number: index for index, (_, change) in enumerate(readable)}
    failures = [seq for seq in (first_unpublished, failed_at) if seq is not None]
    if failures:
        result.failed_sequence_numbers = [min(failures, key=order.__getitem__)]
    result.intents = sum(len(intents) for _, intents in changes)
    return result


def _readable(
    records: Iterable[Mapping[str, Any]], publisher: IntentPublisher, result: StreamBatchResult
) -> list[tuple[Mapping[str, Any], MemberChange]]:
    """Parse every record; park those that cannot be read or whose rule inputs break the contract."""
    readable: list[tuple[Mapping[str, Any], MemberChange]] = []
    for record in records:
        try:
            change = parse_change(record)
        except MalformedRecord as error:
            result.malformed += 1
            _park(publisher, record, None, f"malformed record: {error}")
            continue
        try:
            check_rule_inputs(change.member_id, change.old, change.new)
        except InvalidMember as error:
            result.contract_violations += 1
            _park(publisher, record, change.member_id, f"breaks the member contract: {error}")
            continue
        readable.append((record, change))
    return readable


def _first_old_versions(readable: Sequence[tuple[Mapping[str, Any], MemberChange]]) -> list[tuple[str, str]]:
    """(member id, token of its old image) for each member's first record: later ones chain in memory."""
    wanted: dict[str, str] = {}
    for _, change in readable:
        if change.member_id not in wanted and change.old is not None:
            wanted[change.member_id] = state_token(change.old)
    return sorted(wanted.items())


def _describe(error: Exception) -> str:
    """The error's type and, for a contract error, its field and rule (never a value)."""
    if isinstance(error, InvalidMember):
        return str(error)
    return type(error).__name__


def _park(publisher: IntentPublisher, record: Mapping[str, Any], member_id: str | None, reason: str) -> None:
    logger.error("stream record parked", extra={"member_id": member_id, "reason": reason})
    publisher.record_stream_failure(record, reason)


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
