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
from cio_sync.members.contract import InvalidMember, MemberItem, is_member_id, safe_key
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
from cio_sync.sync.diff import DEFAULT_VOLATILE_WINDOW_S, diff, resync
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
    opt_outs_assumed: int = 0  # an unseen email opt-out assumed over a pending topic pick
    malformed: int = 0  # records that cannot be read at all
    contract_violations: int = 0  # readable records whose item breaks the contract where it matters


@dataclass(frozen=True)
class _Decided:
    """What enforcing the rules on one record did; `applied` when the table holds the decision."""

    decision: PendingDecision
    applied: bool
    wrote: bool = False
    assumed_opt_out: bool = False
    # A new item's decision is kept even when applied: an item restored verbatim (same `updated_at`) must
    # never pick up a decision its previous life left behind for the same version.
    keep: bool = False


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
    change: MemberChange,
    before: PendingDecision | None,
    writer: RuleDecisionWriter,
    *,
    old_readable: bool = True,
) -> _Decided | None:
    """Decide this write on top of the previous decision and write the result back if the item allows.

    `before` is used only when it belongs to this record's old image; an old image that breaks the
    contract is not used at all (the write is decided as if it created the item). None after a REMOVE.
    """
    if change.new is None:
        return None
    old = change.old if old_readable else None
    carried = None
    if before is not None and old is not None and before.token == state_token(old):
        carried = before.outputs
    outcome = decide(carried, old, change.new, change.now)
    decided = outcome.item
    if outcome.assumed_opt_out:
        logger.info(
            "an unseen email opt-out was assumed over a pending topic pick",
            extra={"member_id": change.member_id},
        )
    decision = PendingDecision(change.member_id, state_token(change.new), rule_outputs(decided))
    wanted = decisions(decided, change.new)
    if not wanted:
        return _Decided(decision, applied=True, assumed_opt_out=outcome.assumed_opt_out)
    expected = {**rule_state(change.new), "updated_at": change.new.get("updated_at")}
    if writer.write_rule_decisions(change.member_id, expected, wanted):
        logger.info(
            "subscription rules enforced on a raw write",
            extra={"member_id": change.member_id, "fields": sorted(wanted)},
        )
        created = change.old is None
        return _Decided(
            decision, applied=True, wrote=True, assumed_opt_out=outcome.assumed_opt_out, keep=created
        )
    # A later write (or this record's own earlier delivery) moved the item: the next record carries it.
    logger.info(
        "the item moved on; the next record carries this decision",
        extra={"member_id": change.member_id, "fields": sorted(wanted)},
    )
    return _Decided(decision, applied=False, assumed_opt_out=outcome.assumed_opt_out)


def process_stream_batch(
    records: Iterable[Mapping[str, Any]],
    writer: RuleDecisionWriter,
    pending: PendingDecisions,
    publisher: IntentPublisher,
    lanes: int,
    *,
    volatile_window_s: int = DEFAULT_VOLATILE_WINDOW_S,
) -> StreamBatchResult:
    """Handle a stream batch in order; park what cannot succeed, report the first record to retry.

    Parking happens only for records the batch moves past: when a retry will start at or before a record,
    that retry parks it, so a record is parked once, not once per retry.
    """
    run = _BatchRun([_read(record) for record in records], writer, volatile_window_s)
    try:
        run.decide_all(pending.find(_first_old_versions(run.readable_changes())))
    except TransientFailure:
        logger.exception("pending decisions could not be read; Lambda will retry the batch")
        run.retry_from = 0
    try:
        # Every one, not only each member's last: a retry may start from any record of the batch.
        pending.keep([*run.carried, *run.kept_anyway])
    except TransientFailure:
        logger.exception("pending decisions could not be kept; Lambda will retry the batch")
        run.retry_from = 0
    if run.retry_from != 0:
        run.note_unpublished(_publish(run.changes, publisher, lanes))
    return run.finish(publisher)


class _BatchRun:
    """One batch's walk: decisions in order, the intents they call for, and where a retry must start."""

    def __init__(self, batch: list[_Entry], writer: RuleDecisionWriter, volatile_window_s: int) -> None:
        self.batch = batch
        self.writer = writer
        self.volatile_window_s = volatile_window_s
        self.result = StreamBatchResult()
        self.changes: list[tuple[MemberChange, list[Intent]]] = []
        self.positions: list[int] = []  # each change's position in the batch
        self.carried: list[PendingDecision] = []
        self.kept_anyway: list[PendingDecision] = []
        self.retry_from: int | None = None

    def readable_changes(self) -> list[MemberChange]:
        return [e.change for e in self.batch if e.change is not None and e.problem is None]

    def decide_all(self, kept: Sequence[PendingDecision]) -> None:
        latest = {decision.member_id: decision for decision in kept}
        for position, entry in enumerate(self.batch):
            change = entry.change
            if change is None:
                continue
            if entry.problem is None:
                try:
                    self._decide(position, entry, change, latest)
                except TransientFailure:
                    logger.exception(
                        "stream record failed; Lambda will retry from it",
                        extra={"member_id": change.member_id},
                    )
                    self.retry_from = position
                    return
                except Exception as error:
                    entry.problem = f"cannot be handled: {_describe(error)}"
                    entry.resync = _resync_for(change)
            if entry.problem is not None:
                latest.pop(change.member_id, None)
                if entry.resync is not None:
                    self._add(position, change, [entry.resync])

    def _decide(
        self, position: int, entry: _Entry, change: MemberChange, latest: dict[str, PendingDecision]
    ) -> None:
        decided = enforce_rules(
            change, latest.get(change.member_id), self.writer, old_readable=entry.old_readable
        )
        if entry.old_readable:
            intents = diff(change.old, change.new, change.record_id, change.at_ms, self.volatile_window_s)
        else:
            intents = [resync(change.member_id, change.record_id, change.at_ms)]
        if decided is None:
            latest.pop(change.member_id, None)
        else:
            latest[change.member_id] = decided.decision
            self.result.rule_decisions_written += int(decided.wrote)
            self.result.opt_outs_assumed += int(decided.assumed_opt_out)
            if not decided.applied:
                self.carried.append(decided.decision)
            elif decided.keep:
                self.kept_anyway.append(decided.decision)
        self._add(position, change, intents)

    def _add(self, position: int, change: MemberChange, intents: list[Intent]) -> None:
        self.changes.append((change, intents))
        self.positions.append(position)

    def note_unpublished(self, first_unsent: int | None) -> None:
        if first_unsent is not None:
            position = self.positions[first_unsent]
            self.retry_from = position if self.retry_from is None else min(position, self.retry_from)

    def finish(self, publisher: IntentPublisher) -> StreamBatchResult:
        result, retry_from = self.result, self.retry_from
        if retry_from is not None:
            # Lambda retries from a sequence number: the first one from the retry point on.
            sequences = [e.sequence_number for e in self.batch[retry_from:] if e.sequence_number]
            result.failed_sequence_numbers = sequences[:1]
        for position, entry in enumerate(self.batch):
            if entry.problem is not None and (retry_from is None or position < retry_from):
                _park(publisher, entry, result)
        result.decisions_carried = len(self.carried)
        result.intents = sum(
            len(intents)
            for (_, intents), position in zip(self.changes, self.positions, strict=True)
            if retry_from is None or position < retry_from
        )
        return result


@dataclass
class _Entry:
    """One record of the batch as read: its change, or why it cannot be handled (parked later)."""

    record: Mapping[str, Any]
    sequence_number: str | None
    change: MemberChange | None = None
    problem: str | None = None
    malformed: bool = False
    old_readable: bool = True
    resync: Intent | None = None  # a parked record of a real member still syncs its current item


def _read(record: Mapping[str, Any]) -> _Entry:
    """Parse a record and check the member id and the rule inputs of its new image (and its old one)."""
    sequence = (record.get("dynamodb") or {}).get("SequenceNumber")
    entry = _Entry(record, sequence if isinstance(sequence, str) else None)
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
        entry.resync = _resync_for(change)
        return entry
    try:
        check_rule_inputs(change.member_id, change.old)
    except InvalidMember:
        # The write repairs an item that broke the contract: decide it on its own, and sync the member.
        entry.old_readable = False
    return entry


def _resync_for(change: MemberChange) -> Intent | None:
    """Make Customer.io follow the member's current item whatever this record held (members only)."""
    if not is_member_id(change.member_id):
        return None
    return resync(change.member_id, change.record_id, change.at_ms)


def _first_old_versions(changes: Sequence[MemberChange]) -> list[tuple[str, str]]:
    """(member id, token of its old image) for each member's first record: later ones chain in memory."""
    wanted: dict[str, str] = {}
    for change in changes:
        if change.member_id not in wanted and change.old is not None:
            wanted[change.member_id] = state_token(change.old)
    return sorted(wanted.items())


def _describe(error: Exception) -> str:
    """The error's type and, for a contract error, its field and rule (never a value)."""
    if isinstance(error, InvalidMember):
        return str(error)
    return type(error).__name__


def _park(publisher: IntentPublisher, entry: _Entry, result: StreamBatchResult) -> None:
    reason = entry.problem or "parked"
    if entry.malformed:
        result.malformed += 1
    else:
        result.contract_violations += 1
    member_id = entry.change.member_id if entry.change is not None else None
    logger.error("stream record parked", extra={"key": safe_key(member_id), "reason": reason})
    publisher.record_stream_failure(entry.record, reason)


def _publish(
    changes: Sequence[tuple[MemberChange, list[Intent]]], publisher: IntentPublisher, lanes: int
) -> int | None:
    """Send every intent; return the index (in `changes`) of the earliest record whose intents did not go."""
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
    return min(failed_positions)
