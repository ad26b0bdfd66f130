"""track: make Customer.io match each member's *current* item, for a FIFO batch of lane messages.

A sync intent never carries the payload: the member is read (consistently) at send time, so a late or
repeated message cannot resurrect a deleted profile or write stale attributes. Operations from all
messages of the batch are packed into as few /api/v2/batch requests as the limits allow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aws_lambda_powertools.metrics import MetricUnit

from cio_sync.customerio.batch import BatchResult, Delete, Event, Identify, Operation
from cio_sync.customerio.errors import CustomerIoError
from cio_sync.members.contract import MemberItem
from cio_sync.members.errors import UnreadableMembers
from cio_sync.members.profile import ProfileAttributes, ProfileLimitError, build_profile
from cio_sync.members.subscriptions import is_profile_eligible
from cio_sync.observability import logger, metrics
from cio_sync.pipeline.batch_isolation import TrackSender, send_isolating, should_isolate
from cio_sync.pipeline.consent_identify import TopicMap, member_identifies
from cio_sync.pipeline.messages import InboundMessage, decode_intents, encode_intents
from cio_sync.pipeline.redelivery import DeadLetters, Redelivery
from cio_sync.sync.intents import Intent, MalformedIntent, SyncProfile, TrackEvent


class MemberReader(Protocol):
    def get_many(self, member_ids: Sequence[str]) -> Mapping[str, MemberItem]:
        """Consistent reads; members that do not exist are absent from the result."""
        ...


@dataclass
class TrackBatchOutcome:
    failed_message_ids: list[str] = field(default_factory=list)
    upserts: int = 0
    deletes: int = 0
    events: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    dead_lettered: int = 0

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


@dataclass
class _Planned:
    operation: Operation
    message_indexes: set[int]
    intents: list[Intent]
    counts: bool = True  # False for a member's further identifies (consent_identify): one upsert each


def desired_profiles(
    member_ids: Sequence[str], members: Mapping[str, MemberItem]
) -> tuple[dict[str, ProfileAttributes | None], dict[str, str]]:
    """What Customer.io should hold for each member now: a payload, or None (no profile).

    A missing or ineligible member needs no payload: its profile is deleted whatever its item holds. An
    attribute that breaks the contract or a limit is sent truncated or null and reported (a log line
    naming the attribute and the rule, `ProfileAttributesDegraded`), so it never holds back consent; only
    a member with no usable id is returned among the problems.
    """
    desired: dict[str, ProfileAttributes | None] = {}
    problems: dict[str, str] = {}
    degraded = 0
    for member_id in member_ids:
        member = members.get(member_id)
        if member is None or not is_profile_eligible(member):
            desired[member_id] = None
            continue
        try:
            profile = build_profile(member)
        except ProfileLimitError as error:
            problems[member_id] = f"profile cannot be built: {error}"
            continue
        desired[member_id] = profile.attributes
        for attribute in profile.degraded:
            logger.warning(
                "profile attribute degraded",
                extra={"member_id": member_id, "attribute": attribute.attribute, "rule": attribute.rule},
            )
        degraded += len(profile.degraded)
    if degraded:
        metrics.add_metric("ProfileAttributesDegraded", MetricUnit.Count, degraded)
    return desired, problems


def plan_operations(
    decoded: Sequence[tuple[int, Sequence[Intent]]],
    desired: Mapping[str, ProfileAttributes | None],
    outcome: TrackBatchOutcome,
    sent_at_s: int,
    topic_map: TopicMap | None = None,
) -> list[_Planned]:
    """Intents -> Customer.io operations, in order: one member's profile operations once per batch.

    An eligible member gets their profile operations before any event; an ineligible one gets a delete
    and no events. Repeated syncs of a member collapse (they would all send the same current state).
    Members absent from `desired` are left out (their intents were dead-lettered).
    """
    planned: list[_Planned] = []
    profile_ops: dict[str, list[_Planned]] = {}
    for message_index, intents in decoded:
        for intent in intents:
            if intent.member_id not in desired:
                continue
            payload = desired[intent.member_id]
            if isinstance(intent, SyncProfile) or (isinstance(intent, TrackEvent) and payload is not None):
                existing = profile_ops.get(intent.member_id)
                if existing is None:
                    indexes: set[int] = set()
                    caused_by: list[Intent] = []
                    operations = profile_operations(intent.member_id, payload, sent_at_s, topic_map)
                    existing = [
                        _Planned(operation, indexes, caused_by, counts=position == 0)
                        for position, operation in enumerate(operations)
                    ]
                    profile_ops[intent.member_id] = existing
                    planned.extend(existing)
                existing[0].message_indexes.add(message_index)  # one set and list, shared by all
                existing[0].intents.append(intent)
            if isinstance(intent, TrackEvent):
                if payload is None:
                    outcome.skip("event_member_not_eligible")
                    continue
                event = Event(
                    intent.member_id, intent.name, dict(intent.data), intent.intent_id, intent.timestamp
                )
                planned.append(_Planned(event, {message_index}, [intent]))
            elif not isinstance(intent, SyncProfile):
                outcome.skip("not_a_track_intent")
    return planned


def profile_operations(
    member_id: str, payload: ProfileAttributes | None, sent_at_s: int, topic_map: TopicMap | None = None
) -> list[Operation]:
    """What makes one member's Customer.io profile match their current item: the one place that builds it.

    The identify's `timestamp` is the send time (this function's clock, whole seconds), never the item's
    `updated_at`: Customer.io drops an identify older than an attribute's last change, and a writer's
    clock (behind, or a retried request) could otherwise stamp a later sync earlier than one before it.
    The item is read at send time, so a later send carries the later state and a later (or equal) stamp.
    Its consent attributes go in identifies of their own, stamped so that no sync undoes an opt-out
    Customer.io recorded after the table's last opt-in (consent_identify).
    """
    if payload is None:
        return [Delete(member_id)]
    return list(member_identifies(member_id, payload, sent_at_s, sent_at_s, topic_map or {}))


def process_track_batch(
    messages: Sequence[InboundMessage],
    *,
    reader: MemberReader,
    sender: TrackSender,
    dead_letters: DeadLetters,
    deadline: float | None,
    redelivery: Redelivery,
    clock: Callable[[], float] = time.time,
    topic_map: TopicMap | None = None,
) -> TrackBatchOutcome:
    outcome = TrackBatchOutcome()
    decoded: list[tuple[int, Sequence[Intent]]] = []
    for index, message in enumerate(messages):
        try:
            decoded.append((index, decode_intents(message.body)))
        except MalformedIntent as error:
            logger.error("malformed track message dead-lettered", extra={"message_id": message.message_id})
            dead_letters.dead_letter(message.body, f"malformed: {error}")
            outcome.dead_lettered += 1

    member_ids = sorted({intent.member_id for _, intents in decoded for intent in intents})
    failed: dict[int, str] = {}
    try:
        # Before the read: an opt-out stamped with it is never later than a write the read did not see.
        sent_at_s = int(clock())
        members, problems = _read(reader, member_ids)
        desired, unbuildable = desired_profiles([m for m in member_ids if m not in problems], members)
        problems.update(unbuildable)
        _park_members(decoded, problems, dead_letters, outcome)
        planned = plan_operations(decoded, desired, outcome, sent_at_s, topic_map)
        result = _send(sender, [p.operation for p in planned], deadline, messages) if planned else None
    except CustomerIoError as error:
        logger.warning("Customer.io batch failed as a whole", extra={"status": error.status})
        failed = {index: str(error) for index, _ in decoded}
        planned, result = [], None
    except Exception as error:
        logger.exception("track batch failed; messages return to the queue")
        failed = {index: type(error).__name__ for index, _ in decoded}
        planned, result = [], None

    parked: set[int] = set()  # a member's identifies share their intents: park those once
    for position, item in enumerate(planned):
        rejection = result[position] if result is not None else None
        if rejection is None:
            if item.counts:
                _count(item.operation, outcome)
        elif rejection.retryable:
            for index in item.message_indexes:
                failed.setdefault(index, str(rejection))
        elif id(item.intents) not in parked:
            parked.add(id(item.intents))
            reason = f"Customer.io rejected {type(item.operation).__name__.lower()}: {rejection}"
            logger.error(
                "permanent Customer.io failure dead-lettered", extra={"member_id": item.operation.member_id}
            )
            dead_letters.dead_letter(encode_intents(item.intents), reason)
            outcome.dead_lettered += 1

    outcome.failed_message_ids = _fifo_failures(messages, failed, dead_letters, redelivery, outcome)
    _come_back_later(messages, outcome.failed_message_ids, redelivery)
    return outcome


def _send(
    sender: TrackSender,
    operations: Sequence[Operation],
    deadline: float | None,
    messages: Sequence[InboundMessage],
) -> BatchResult:
    """One packed send; a batch that keeps failing is split to find the member at fault (batch_isolation)."""
    receives = [message.receive_count for message in messages]
    if should_isolate(receives):
        return send_isolating(sender, operations, deadline, max(receives))
    return sender.send_batch(operations, deadline)


def _read(reader: MemberReader, member_ids: Sequence[str]) -> tuple[dict[str, MemberItem], dict[str, str]]:
    """Consistent reads; items that cannot be read are problems of their member alone."""
    if not member_ids:
        return {}, {}
    try:
        return dict(reader.get_many(member_ids)), {}
    except UnreadableMembers as error:
        return error.readable, dict.fromkeys(error.unreadable, "stored item does not match the contract")


def _park_members(
    decoded: Sequence[tuple[int, Sequence[Intent]]],
    problems: Mapping[str, str],
    dead_letters: DeadLetters,
    outcome: TrackBatchOutcome,
) -> None:
    """Dead-letter each problem member's intents with its reason; the batch goes on without them."""
    for member_id, reason in sorted(problems.items()):
        intents = [intent for _, message in decoded for intent in message if intent.member_id == member_id]
        logger.error("member parked by the track function", extra={"member_id": member_id, "reason": reason})
        dead_letters.dead_letter(encode_intents(intents), reason)
        outcome.dead_lettered += 1


def _count(operation: Operation, outcome: TrackBatchOutcome) -> None:
    if isinstance(operation, Identify):
        outcome.upserts += 1
    elif isinstance(operation, Delete):
        outcome.deletes += 1
    else:
        outcome.events += 1


def _fifo_failures(
    messages: Sequence[InboundMessage],
    failed: Mapping[int, str],
    dead_letters: DeadLetters,
    redelivery: Redelivery,
    outcome: TrackBatchOutcome,
) -> list[str]:
    """A failed message fails every later message of its group (FIFO order), unless it is dead-lettered.

    A message on its last allowed receive is parked with its reason instead of failing, so every dead
    letter says why it is there.
    """
    blocked_groups: set[str] = set()
    failed_ids: list[str] = []
    for index, message in enumerate(messages):
        if message.group_id in blocked_groups:
            failed_ids.append(message.message_id)
            continue
        reason = failed.get(index)
        if reason is None:
            continue
        parked = redelivery.park_reason(message.receive_count, reason)
        if parked is not None:
            dead_letters.dead_letter(message.body, parked)
            outcome.dead_lettered += 1
            continue
        blocked_groups.add(message.group_id)
        failed_ids.append(message.message_id)
    return failed_ids


def _come_back_later(
    messages: Sequence[InboundMessage], failed_ids: Sequence[str], redelivery: Redelivery
) -> None:
    """Back off each failed lane: its messages come back together, after the first failure's backoff.

    FIFO returns none of a group while any of its messages is in flight, so one delay per group.
    """
    failed = set(failed_ids)
    group_delay: dict[str, int] = {}
    postponed: list[tuple[str, int]] = []
    for message in messages:
        if message.message_id in failed and message.receipt_handle:
            if message.group_id not in group_delay:
                group_delay[message.group_id] = redelivery.delay_s(message.receive_count)
            postponed.append((message.receipt_handle, group_delay[message.group_id]))
    redelivery.postpone(postponed)
