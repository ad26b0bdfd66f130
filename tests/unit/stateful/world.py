"""AWS in memory for the state machine: a member table with its stream, SQS queues (FIFO lanes, visibility,
receive counts, dead letters), and the product's repository and the consent function's writes on top.

Every write that lands in the table is also handed to the oracle as a step (old oracle item -> new), in
the order it landed: that order is the write order the contract speaks of. The rules' own write-backs
are not writes of the history (they carry decisions the oracle already took).
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cio_sync.imports.chunk import Claim
from cio_sync.imports.outcomes import Outcome
from cio_sync.members.contract import MemberItem
from cio_sync.members.errors import UnreadableMembers
from cio_sync.members.raw_writes import MODEL_WRITE, model_write_marker
from cio_sync.pipeline.consent import READ_ATTRIBUTES
from cio_sync.pipeline.messages import TrackMessage
from cio_sync.sync.intents import SendEmail
from cio_sync_cli.member_writes import MemberAdmin
from tests.unit.pipeline.fakes import stream_record

from . import oracle

Step = Callable[[oracle.Item | None], oracle.Item | None]
MAX_ITEM_BYTES = 400 * 1024
DEDUPLICATION_WINDOW_S = 300
VISIBILITY_TIMEOUT_S = 60
BOOLEANS = frozenset({"email_subscription_status", "sms_paused"})
LISTS = frozenset({"email_subscription_topics", "sms_subscription_topics"})


class LambdaTimeout(BaseException):
    """The invocation ran out of time: no `except Exception` in the product sees it; Lambda retries."""


class Clock:
    """Whole seconds of fake time, from 2026-11-26 10:00 UTC."""

    def __init__(self) -> None:
        self.now = 1_795_687_200.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def iso(self, offset_s: float = 0) -> str:
        return iso(self.now + offset_s)


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def after(previous: object, candidate: str) -> str:
    """`candidate`, or just after `previous` when that is not earlier (a new value on every write)."""
    if not isinstance(previous, str) or previous < candidate:
        return candidate
    moment = datetime.fromisoformat(previous.replace("Z", "+00:00")) + timedelta(microseconds=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def item_bytes(item: Mapping[str, Any]) -> int:
    return len(json.dumps(item, default=str).encode())


@dataclass
class Table:
    """The member table and its one stream shard; `observe` gets every write of the history."""

    clock: Clock
    observe: Callable[[str, Step | None, MemberItem | None, MemberItem | None, dict[str, Any]], None]
    items: dict[str, MemberItem] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    cursor: int = 0
    refused: int = 0

    def land(self, key: str, new: MemberItem | None, step: Step | None) -> bool:
        if new is not None and item_bytes(new) > MAX_ITEM_BYTES:
            self.refused += 1  # DynamoDB's ValidationException: the writer's write fails, nothing lands
            return False
        old = copy.deepcopy(self.items.get(key))
        if new is None:
            self.items.pop(key, None)
        else:
            self.items[key] = copy.deepcopy(new)
        if old is None and new is None:
            return True
        record = stream_record(old, new, created_s=int(self.clock.now))
        record["dynamodb"]["Keys"] = {"id": {"S": key}}
        self.records.append(record)
        self.observe(key, step, old, copy.deepcopy(new), record)
        return True

    def get(self, key: str) -> MemberItem | None:
        item = self.items.get(key)
        return None if item is None else copy.deepcopy(item)

    def write_rule_decisions(
        self, member_id: str, expected: Mapping[str, Any], decided: Mapping[str, Any]
    ) -> bool:
        """The stream function's port, as the adapter: conditional on every rule input and `updated_at`."""
        item = self.items.get(member_id)
        if item is None or any(item.get(name) != value for name, value in expected.items()):
            return False
        new = copy.deepcopy(item)
        for name, value in decided.items():
            if value is None and name != oracle.MUTED:
                new.pop(name, None)
            else:
                new[name] = copy.deepcopy(value)
        new["updated_at"] = after(expected.get("updated_at"), self.clock.iso())
        return self.land(member_id, new, None)


def readable(item: Mapping[str, Any]) -> bool:
    """What the pynamodb model can deserialise: strings, booleans and lists of strings where it expects."""
    for name, value in item.items():
        if value is None:
            continue
        if name in BOOLEANS:
            ok = isinstance(value, bool)
        elif name in LISTS:
            ok = isinstance(value, list) and all(isinstance(entry, str) for entry in value)
        else:
            ok = isinstance(value, str)
        if not ok:
            return False
    return True


class TableReader:
    """The track function's and the sweep's `MemberReader`, as the repository answers (consistent reads)."""

    def __init__(self, table: Table, snapshot: Mapping[str, MemberItem] | None = None) -> None:
        self.table = table
        self.snapshot = None if snapshot is None else copy.deepcopy(dict(snapshot))

    def get_many(self, member_ids: Sequence[str]) -> dict[str, MemberItem]:
        """A snapshot answers the first read only (what a stalled invocation read before it stalled)."""
        source = self.table.items if self.snapshot is None else self.snapshot
        self.snapshot = None
        found: dict[str, MemberItem] = {}
        unreadable: list[str] = []
        for member_id in member_ids:
            item = source.get(member_id)
            if item is None:
                continue
            if not readable(item):
                unreadable.append(member_id)
                continue
            found[member_id] = _as_model(item)
        if unreadable:
            raise UnreadableMembers(found, unreadable)
        return found

    def scan_eligibility(self) -> list[MemberItem]:
        """The sweep's `MemberScanner`: every readable item (the projection is a superset here)."""
        return [_as_model(item) for item in self.table.items.values() if readable(item)]


class SimConsent:
    """The consent function's `MemberConsent` (adapters/consent_writes.py) over the table: a conditional
    write of the event's changes that stamps a new `updated_at`; `step_for` tells the oracle."""

    def __init__(self, table: Table, step_for: Callable[[dict[str, Any]], Step]) -> None:
        self.table = table
        self.step_for = step_for

    def read(self, member_id: str) -> Mapping[str, Any] | None:
        item = self.table.get(member_id)
        return None if item is None else {name: item.get(name) for name in READ_ATTRIBUTES if name in item}

    def write(self, member_id: str, updated_at: str | None, changes: Mapping[str, Any]) -> bool:
        item = self.table.get(member_id)
        if item is None or item.get("updated_at") != updated_at:
            return False
        written = {**changes, "updated_at": after(updated_at, self.table.clock.iso())}
        return self.table.land(member_id, {**item, **written}, self.step_for(written))


def _as_model(item: Mapping[str, Any]) -> MemberItem:
    result: MemberItem = {
        name: copy.deepcopy(value)
        for name, value in item.items()
        if value is not None and name != MODEL_WRITE
    }  # the model's read leaves the model-write marker out (adapters/member_model.py to_item)
    result.setdefault(oracle.MUTED, None)
    return result


class SimRepository(MemberAdmin):
    """The product's repository (its update, admin_mute and request_deletion logic run as shipped) over the
    in-memory table: only the storage primitives are replaced."""

    def __init__(self, table: Table, step_for: Callable[[MemberItem, MemberItem], Step]) -> None:
        super().__init__("sim-members", region="us-east-1", clock=table.clock.iso, sleep=lambda _: None)
        self.table = table
        self.step_for = step_for  # (the item read, the item written) -> the oracle's step for the write

    def get(self, member_id: str, consistent: bool = True) -> MemberItem | None:
        item = self.table.items.get(member_id)
        if item is None or not readable(item):
            return None
        return _as_model(item)

    def _write_if_unchanged(
        self, old: MemberItem, new: MemberItem, stated: Collection[str]
    ) -> MemberItem | None:
        current = self.table.items.get(old["id"])
        if current is None or current.get("updated_at") != old.get("updated_at"):
            return None
        # As the shipped write: the item carries the model write's marker (the rule inputs it stated).
        landed = {**copy.deepcopy(new), MODEL_WRITE: model_write_marker(new["updated_at"], stated)}
        self.table.land(old["id"], landed, self.step_for(old, new))
        return copy.deepcopy(new)


@dataclass
class Message:
    message_id: str
    group_id: str
    body: str
    receive_count: int = 0
    visible_at: float = 0.0
    receipt: str = ""


@dataclass
class Queue:
    """SQS: FIFO groups (none of a group is received while one is in flight), visibility, receive counts,
    and the function's own dead letters (`dead_letter`) beside the queue's."""

    clock: Clock
    fifo: bool
    messages: list[Message] = field(default_factory=list)
    dead: list[tuple[str, str]] = field(default_factory=list)
    seen: dict[str, float] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=itertools.count)

    def send(self, body: str, group: str = "", deduplication_id: str = "") -> None:
        if self.fifo and deduplication_id:
            if self.clock.now - self.seen.get(deduplication_id, -1e12) < DEDUPLICATION_WINDOW_S:
                return
            self.seen[deduplication_id] = self.clock.now
        self.messages.append(Message(f"m-{next(self.ids)}", group, body, visible_at=self.clock.now))

    def receive(self, limit: int = 10) -> list[Message]:
        now = self.clock.now
        blocked: set[str] = set()
        taken: list[Message] = []
        for message in self.messages:
            in_flight = message.visible_at > now
            if self.fifo and (message.group_id in blocked or in_flight):
                blocked.add(message.group_id)
                continue
            if in_flight or len(taken) >= limit:
                continue
            message.receive_count += 1
            message.visible_at = now + VISIBILITY_TIMEOUT_S
            message.receipt = f"{message.message_id}/{message.receive_count}"
            taken.append(message)
        return taken

    def delete(self, receipt: str) -> None:
        self.messages = [message for message in self.messages if message.receipt != receipt]

    def postpone(self, delays: Sequence[tuple[str, int]]) -> None:
        for receipt, seconds in delays:
            for message in self.messages:
                if message.receipt == receipt:
                    message.visible_at = self.clock.now + seconds

    def dead_letter(self, body: str, reason: str) -> None:
        self.dead.append((body, reason))


@dataclass
class Publisher:
    """The stream function's `IntentPublisher`: the track and email queues, and the stream's failures."""

    track: Queue
    email: Queue
    parked: list[tuple[str, str]] = field(default_factory=list)  # (sequence number, reason)
    crash_after: int | None = None  # a Lambda timeout after this many publish calls

    def _maybe_crash(self) -> None:
        if self.crash_after is not None:
            if self.crash_after <= 0:
                self.crash_after = None
                raise LambdaTimeout
            self.crash_after -= 1

    def publish_track(self, messages: Sequence[TrackMessage]) -> list[int]:
        self._maybe_crash()
        for message in messages:
            self.track.send(message.body(), message.lane, message.deduplication_id)
        return []

    def publish_email(self, intents: Sequence[SendEmail]) -> list[int]:
        self._maybe_crash()
        for intent in intents:
            self.email.send(intent.to_json())
        return []

    def record_stream_failure(self, record: Mapping[str, Any], reason: str) -> None:
        self.parked.append((str(record.get("dynamodb", {}).get("SequenceNumber")), reason))


class SimClaims:
    """The import's row claims (the idempotency table) with the mute in the same transaction, over the
    table; `delete_first` deletes a member just before its row's mute (a delete racing the import)."""

    def __init__(
        self, table: Table, step_for: Callable[[str, str], Step], delete: Callable[[str], None]
    ) -> None:
        self.table = table
        self.step_for = step_for  # (mute_at, the write's now) -> the oracle's step for the import's mute
        self.delete = delete
        self.claims: dict[tuple[str, str], tuple[int, Outcome | None]] = {}
        self.delete_first: set[str] = set()

    def _blocking(self, import_id: str, member_id: str, row: int) -> Claim | None:
        held = self.claims.get((import_id, member_id))
        if held is None or held == (row, None):
            return None
        return Claim(*held)

    def _stamp(self, member_id: str, mute_at: str) -> bool:
        item = self.table.get(member_id)
        if item is None:
            return False
        item[oracle.MUTED] = mute_at
        item["updated_at"] = self.table.clock.iso()  # the adapter's mute stamps its clock, as shipped
        return self.table.land(member_id, item, self.step_for(mute_at, self.table.clock.iso()))

    def mute(self, import_id: str, member_id: str, row: int, mute_at: str) -> Claim:
        if member_id in self.delete_first:
            self.delete_first.discard(member_id)
            self.delete(member_id)
        stored = self._blocking(import_id, member_id, row)
        if stored is not None:
            return stored
        item = self.table.items.get(member_id)
        if item is None or item.get(oracle.MUTED) or not self._stamp(member_id, mute_at):
            return Claim(row)
        self.claims[import_id, member_id] = (row, "muted")
        return Claim(row, "muted")

    def restamp(self, import_id: str, member_id: str, row: int, mute_at: str, seen_muted_at: str) -> Claim:
        stored = self._blocking(import_id, member_id, row)
        if stored is not None:
            return stored
        item = self.table.items.get(member_id)
        if item is None or item.get(oracle.MUTED) != seen_muted_at or not self._stamp(member_id, mute_at):
            return Claim(row)
        self.claims[import_id, member_id] = (row, "already_muted")
        return Claim(row, "already_muted")

    def record(self, import_id: str, member_id: str, row: int, outcome: Outcome) -> Claim:
        stored = self._blocking(import_id, member_id, row)
        if stored is not None:
            return stored
        self.claims[import_id, member_id] = (row, outcome)
        return Claim(row, outcome)
