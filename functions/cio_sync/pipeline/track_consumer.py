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

from cio_sync.customerio.batch import BatchResult, Delete, Event, Identify, Operation, Suppression
from cio_sync.customerio.errors import CustomerIoError
from cio_sync.members.contract import MemberItem
from cio_sync.members.errors import UnreadableMembers
from cio_sync.members.profile import ProfileAttributes
from cio_sync.observability import logger
from cio_sync.pipeline.batch_isolation import TrackSender, send_isolating, should_isolate
from cio_sync.pipeline.consent_identify import TopicMap, member_identifies
from cio_sync.pipeline.desired_profiles import desired_profiles
from cio_sync.pipeline.erasure import erasures
from cio_sync.pipeline.erasure_restore import restore_recreated
from cio_sync.pipeline.messages import InboundMessage, decode_intents, encode_intents
from cio_sync.pipeline.redelivery import DeadLetters, Redelivery
from cio_sync.pipeline.track_lanes import come_back_later, fifo_failures
from cio_sync.sync.intents import Intent, MalformedIntent, SyncProfile, TrackEvent, sync_lag_ms


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
    lags_ms: list[int] = field(default_factory=list)  # per intent Customer.io accepted (SyncLagMs)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def counts(self) -> dict[str, int]:
        return {
            "upserts": self.upserts,
            "deletes": self.deletes,
            "events": self.events,
            "dead_lettered": self.dead_lettered,
            "skipped": sum(self.skipped.values()),
        }


@dataclass
class _Planned:
    operation: Operation
    message_indexes: set[int]
    intents: list[Intent]
    counts: bool = True  # False for a member's further identifies (consent_identify): one upsert each


def plan_operations(
    decoded: Sequence[tuple[int, Sequence[Intent]]],
    desired: Mapping[str, ProfileAttributes | None],
    outcome: TrackBatchOutcome,
    sent_at_s: int,
    topic_map: TopicMap | None = None,
    *,
    erase: Mapping[str, bool] | None = None,
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
                    erasure = (erase or {}).get(intent.member_id)
                    operations = profile_operations(intent.member_id, payload, sent_at_s, topic_map, erasure)
                    first = 1 if erasure is False else 0  # the unsuppress is not what the batch counts
                    existing = [
                        _Planned(operation, indexes, caused_by, counts=position == first)
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
    member_id: str,
    payload: ProfileAttributes | None,
    sent_at_s: int,
    topic_map: TopicMap | None = None,
    erasure: bool | None = None,
) -> list[Operation]:
    """What makes one member's Customer.io profile match their current item: the one place that builds it.

    The identify's `timestamp` is the send time (this function's clock, whole seconds), never the item's
    `updated_at`: Customer.io drops an identify older than an attribute's last change, and a writer's
    clock (behind, or a retried request) could otherwise stamp a later sync earlier than one before it.
    The item is read at send time, so a later send carries the later state and a later (or equal) stamp.
    Its consent attributes go in identifies of their own, stamped so that no sync undoes an opt-out
    Customer.io recorded after the table's last opt-in (consent_identify). `erasure` (pipeline/erasure):
    True suppresses after the delete, False unsuppresses before the identify.
    """
    operations: list[Operation] = []
    if payload is None:
        operations.append(Delete(member_id))
        if erasure:
            operations.append(Suppression(member_id, suppress=True))
        return operations
    if erasure is False:
        operations.append(Suppression(member_id, suppress=False))
    operations.extend(member_identifies(member_id, payload, sent_at_s, sent_at_s, topic_map or {}))
    return operations


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
        eligible = {member_id: payload is not None for member_id, payload in desired.items()}
        erase = erasures([intent for _, intents in decoded for intent in intents], members, eligible)
        planned = plan_operations(decoded, desired, outcome, sent_at_s, topic_map, erase=erase)
        result = _send(sender, [p.operation for p in planned], deadline, messages) if planned else None
        failed = restore_recreated(
            sender,
            erase,
            members,
            decoded,
            read_again=lambda ids: _read(reader, ids)[0],
            build=profile_operations,
            clock=clock,
            deadline=deadline,
            topic_map=topic_map,
        )
    except CustomerIoError as error:
        logger.warning("Customer.io batch failed as a whole", extra={"status": error.status})
        failed = {index: str(error) for index, _ in decoded}
        planned, result = [], None
    except Exception as error:
        logger.exception("track batch failed; messages return to the queue")
        failed = {index: type(error).__name__ for index, _ in decoded}
        planned, result = [], None

    done_s = clock()  # Customer.io's 2xx (or none) is in: the end of each accepted intent's sync lag
    accepted: set[str] = set()  # intent ids whose every operation Customer.io took
    rejected: set[str] = set()
    parked: set[int] = set()  # a member's identifies share their intents: park those once
    for position, item in enumerate(planned):
        rejection = result[position] if result is not None else None
        (accepted if rejection is None else rejected).update(intent.intent_id for intent in item.intents)
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

    outcome.lags_ms = sorted(
        lag for intent_id in accepted - rejected if (lag := sync_lag_ms(intent_id, done_s)) is not None
    )
    outcome.failed_message_ids = fifo_failures(messages, failed, dead_letters, redelivery, outcome)
    come_back_later(messages, outcome.failed_message_ids, redelivery)
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
    elif isinstance(operation, Event):
        outcome.events += 1
