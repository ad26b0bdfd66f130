"""Fakes for the pipeline's ports, and a builder of stream records shaped as Lambda delivers them."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer

from cio_sync.customerio.batch import BatchResult, Operation
from cio_sync.customerio.errors import CustomerIoError
from cio_sync.failures import TransientFailure
from cio_sync.handlers.stream_batch import stream_records
from cio_sync.pipeline.member_stream import PendingDecision, StreamBatchResult, process_stream_batch
from cio_sync.pipeline.messages import TrackMessage
from cio_sync.pipeline.record_budget import RecordOverBudget
from cio_sync.sync.intents import SendEmail

_serializer = TypeSerializer()
_sequence = itertools.count(100)
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/cio-sync-members/stream/2026-11-26T00:00:00.000"


def _image(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    plain = {key: Decimal(str(value)) if isinstance(value, float) else value for key, value in item.items()}
    return {key: _serializer.serialize(value) for key, value in plain.items()}


def stream_record(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, created_s: int = 1_790_000_000
) -> dict[str, Any]:
    """One DynamoDB stream record, NEW_AND_OLD_IMAGES, as the Lambda event source mapping delivers it."""
    member_id = (new or old or {})["id"]
    event_name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
    sequence = f"{next(_sequence):021d}"
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": created_s,
        "Keys": {"id": {"S": member_id}},
        "SequenceNumber": sequence,
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if old is not None:
        dynamodb["OldImage"] = _image(old)
    if new is not None:
        dynamodb["NewImage"] = _image(new)
    return {
        "eventID": f"evt-{sequence}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": ARN,
    }


@dataclass
class FakeWriter:
    """The member table as the rules see it: conditional on every rule input, like the real adapter.

    Members absent from `items` accept any write (the test does not care about the table's state).
    """

    decisions: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail: bool = False

    def write_rule_decisions(
        self, member_id: str, expected: Mapping[str, Any], decided: Mapping[str, Any]
    ) -> bool:
        if self.fail:
            raise TransientFailure("member table: ProvisionedThroughputExceededException")
        item = self.items.get(member_id)
        if item is not None:
            if any(item.get(name) != value for name, value in expected.items()):
                return False
            item.update(decided)
        self.decisions.append((member_id, dict(decided)))
        return True


class BudgetRunsOut:
    """A RecordBudget with time to spare, except for the `nth` record started (from 1): its budget runs out
    at `point`, as the timer of handlers/member_stream_budget.py may fire there: "start" (before any of its
    work), "io" (as its rule write-back returns) or "end" (as its work ends). No clock."""

    def __init__(self, nth: int, point: str) -> None:
        self.nth, self.point, self.records = nth, point, 0

    def may_start(self) -> bool:
        return True

    def _runs_out(self, point: str) -> None:
        if self.point == point and self.records == self.nth:
            raise RecordOverBudget

    @contextmanager
    def limit(self) -> Iterator[None]:
        self.records += 1
        self._runs_out("start")
        yield
        self._runs_out("end")

    @contextmanager
    def io(self) -> Iterator[None]:
        yield
        self._runs_out("io")


@dataclass
class FakePending:
    kept: dict[tuple[str, str], PendingDecision] = field(default_factory=dict)
    fail: bool = False

    def find(self, wanted: Sequence[tuple[str, str]]) -> list[PendingDecision]:
        if self.fail:
            raise TransientFailure("pending decisions: ThrottlingException")
        return [self.kept[key] for key in wanted if key in self.kept]

    def keep(self, decisions: Sequence[PendingDecision]) -> None:
        if self.fail:
            raise TransientFailure("pending decisions: ThrottlingException")
        for decision in decisions:
            self.kept[(decision.member_id, decision.token)] = decision


@dataclass
class FakePublisher:
    track: list[TrackMessage] = field(default_factory=list)
    emails: list[SendEmail] = field(default_factory=list)
    parked: list[str] = field(default_factory=list)
    fail_track: bool = False

    def publish_track(self, messages: Sequence[TrackMessage]) -> list[int]:
        if self.fail_track:
            return list(range(len(messages)))
        self.track.extend(messages)
        return []

    def publish_email(self, intents: Sequence[SendEmail]) -> list[int]:
        self.emails.extend(intents)
        return []

    def record_stream_failure(self, record: Mapping[str, Any], reason: str) -> None:
        self.parked.append(reason)

    def member_ids(self) -> list[str]:
        return [intent.member_id for message in self.track for intent in message.intents]


@dataclass
class FakeReader:
    members: dict[str, dict[str, Any]]
    reads: int = 0

    def get_many(self, member_ids: Sequence[str]) -> Mapping[str, dict[str, Any]]:
        self.reads += 1
        return {member_id: self.members[member_id] for member_id in member_ids if member_id in self.members}


@dataclass
class FakeSender:
    """Records operations; answers each member listed in `failures` with that error."""

    sent: list[list[Operation]] = field(default_factory=list)
    failures: dict[str, CustomerIoError] = field(default_factory=dict)  # member id -> error
    raise_error: CustomerIoError | None = None

    def send_batch(self, operations: Sequence[Operation], deadline: float | None) -> BatchResult:
        if self.raise_error is not None:
            raise self.raise_error
        self.sent.append(list(operations))
        errors = {
            i: self.failures[op.member_id] for i, op in enumerate(operations) if op.member_id in self.failures
        }
        return BatchResult(len(operations), errors)


@dataclass
class FakeDeadLetters:
    parked: list[tuple[str, str]] = field(default_factory=list)

    def dead_letter(self, body: str, reason: str) -> None:
        self.parked.append((body, reason))


@dataclass
class FakeVisibility:
    """Records the visibility each postponed message was given (receipt handle -> seconds)."""

    postponed: list[tuple[str, int]] = field(default_factory=list)

    def postpone(self, delays: Sequence[tuple[str, int]]) -> None:
        self.postponed.extend(delays)


def process_raw(records: Sequence[Mapping[str, Any]], *args: Any, **kwargs: Any) -> StreamBatchResult:
    """The member-stream pipeline on raw stream records, parsed as its handler parses them."""
    return process_stream_batch(stream_records({"Records": list(records)}), *args, **kwargs)
