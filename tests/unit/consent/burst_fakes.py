"""In-memory stand-ins for the consent path's AWS services, with the semantics a burst depends on.

`FifoSqs` is a boto3 SQS client for one FIFO queue (the real `SqsConsentQueue` adapter sends to it):
order within a MessageGroupId, a group held while one of its messages is in flight, MessageDeduplicationId
honoured for 5 minutes (scope: message group, as the stack's queue), and at-least-once delivery (a lost
delete delivers a message, and its group's later ones, again). `RuledTable` is the member table with the
stream's subscription rules folded into each write, so a member ends where the rules would leave it.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from cio_sync.members.subscriptions import apply_subscription_rules

DEDUPLICATION_S = 300


@dataclass
class Message:
    message_id: str
    body: str
    group: str
    receives: int = 0


class FifoSqs:
    def __init__(self, clock: Callable[[], float], throttle: Callable[[str], bool]) -> None:
        self._clock = clock
        self._throttle = throttle  # by deduplication id: this send fails (SQS answered 5xx)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._seen: dict[tuple[str, str], tuple[float, str]] = {}  # (group, dedup id) -> (sent at, id)
        self._groups: OrderedDict[str, deque[Message]] = OrderedDict()
        self.accepted: list[Message] = []  # every message the queue took (not deduplicated)

    def send_message(
        self, *, QueueUrl: str, MessageBody: str, MessageGroupId: str, MessageDeduplicationId: str
    ) -> dict[str, Any]:
        if self._throttle(MessageDeduplicationId):
            error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
            raise ClientError(error, "SendMessage")
        with self._lock:
            now = self._clock()
            key = (MessageGroupId, MessageDeduplicationId)
            seen = self._seen.get(key)
            if seen is not None and now - seen[0] < DEDUPLICATION_S:
                return {"MessageId": seen[1]}  # accepted, and dropped: SQS answers as if sent
            message = Message(f"msg-{next(self._ids)}", MessageBody, MessageGroupId)
            self._seen[key] = (now, message.message_id)
            self._groups.setdefault(MessageGroupId, deque()).append(message)
            self.accepted.append(message)
            return {"MessageId": message.message_id}

    def receive(self, limit: int = 10) -> list[Message]:
        """Up to `limit` messages, each group's in the order sent (one consumer: a batch is settled before the
        next receive, so no group has a message in flight)."""
        batch: list[Message] = []
        with self._lock:
            for group, waiting in list(self._groups.items()):
                while waiting and len(batch) < limit:
                    batch.append(waiting.popleft())
                if not waiting:
                    del self._groups[group]
                if len(batch) == limit:
                    break
        for message in batch:
            message.receives += 1
        return batch

    def give_back(self, messages: list[Message]) -> None:
        """Not deleted: visible again at the head of their groups, in their order."""
        with self._lock:
            for message in reversed(messages):
                self._groups.setdefault(message.group, deque()).appendleft(message)
                self._groups.move_to_end(message.group, last=False)

    def empty(self) -> bool:
        with self._lock:
            return not self._groups


def record(message: Message) -> dict[str, Any]:
    """As the event source mapping hands it to the consent function."""
    attributes = {"MessageGroupId": message.group, "ApproximateReceiveCount": str(message.receives)}
    return {"messageId": message.message_id, "body": message.body, "attributes": attributes}


@dataclass
class RuledTable:
    """The consent function's port onto the member table; writes conditional on `updated_at`."""

    items: dict[str, dict[str, Any]]
    clock: datetime
    writes: dict[str, int] = field(default_factory=dict)

    def read(self, member_id: str) -> Mapping[str, Any] | None:
        item = self.items.get(member_id)
        return dict(item) if item is not None else None

    def write(self, member_id: str, updated_at: str | None, changes: Mapping[str, Any]) -> bool:
        old = self.items.get(member_id)
        if old is None or old.get("updated_at") != updated_at:
            return False
        self.clock += timedelta(seconds=1)
        now = self.clock.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.items[member_id] = apply_subscription_rules(old, {**old, **changes, "updated_at": now}, now)
        self.writes[member_id] = self.writes.get(member_id, 0) + 1
        return True
