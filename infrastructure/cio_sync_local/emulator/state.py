"""What the emulated Customer.io workspace holds: people, events, deliveries, and the request log.

All mutation goes through `EmulatorState` under one lock, so concurrent requests see Customer.io-like
all-or-nothing updates per operation and tests can read a consistent snapshot in-process.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

JsonValue = Any
"""A decoded JSON value; attributes and event data are arbitrary JSON."""

REQUEST_LOG_SIZE = 10_000
"""How many recent requests `/_emulator/requests` keeps: enough for any test, bounded for long local runs."""

IDENTIFY_CONTROL_KEYS = frozenset({"_update", "_timestamp", "id", "cio_relationships"})
"""Identify body keys that steer the call and are not stored as attributes."""


def removes_attribute(value: JsonValue) -> bool:
    """Customer.io removes an attribute that is set to null or to the empty string."""
    return value is None or value == ""


@dataclass
class Profile:
    """One person. `created` is when the emulator first saw them; `created_at` is only ever an attribute."""

    person_id: str
    attributes: dict[str, JsonValue]
    created: float
    updated: float
    attribute_timestamps: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "id": self.person_id,
            "attributes": dict(self.attributes),
            "created": self.created,
            "updated": self.updated,
        }


@dataclass(frozen=True)
class StoredEvent:
    person_id: str
    name: str
    data: Mapping[str, JsonValue]
    event_id: str | None
    timestamp: int | None
    received: float

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "person_id": self.person_id,
            "name": self.name,
            "data": dict(self.data),
            "id": self.event_id,
            "timestamp": self.timestamp,
            "received": self.received,
        }


@dataclass(frozen=True)
class Delivery:
    """A transactional email accepted by the App API; the body is kept whole for assertions."""

    delivery_id: str
    queued_at: int
    request: Mapping[str, JsonValue]

    def to_json(self) -> dict[str, JsonValue]:
        return {"delivery_id": self.delivery_id, "queued_at": self.queued_at, **self.request}


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    status: int
    time: float
    operations: int

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "time": self.time,
            "operations": self.operations,
        }


class EmulatorState:
    """The workspace plus counters. Every public method takes the lock; callers never need to."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.lock = threading.RLock()
        self._clock = clock
        self.profiles: dict[str, Profile] = {}
        self.events: list[StoredEvent] = []
        self.event_ids: set[str] = set()
        self.emails: list[Delivery] = []
        self.requests: deque[RequestRecord] = deque(maxlen=REQUEST_LOG_SIZE)
        self.requests_by_status: Counter[int] = Counter()
        self.operations_applied = 0
        self.operations_unmodelled = 0
        self.duplicate_events_ignored = 0
        self._delivery_counter = 0

    def reset(self) -> None:
        with self.lock:
            self.profiles.clear()
            self.events.clear()
            self.event_ids.clear()
            self.emails.clear()
            self.requests.clear()
            self.requests_by_status.clear()
            self.operations_applied = 0
            self.operations_unmodelled = 0
            self.duplicate_events_ignored = 0
            self._delivery_counter = 0

    def merged_attribute_count(self, person_id: str, changes: Mapping[str, JsonValue]) -> int:
        """How many attributes the person would have after `changes`, for the 300-per-person limit."""
        with self.lock:
            profile = self.profiles.get(person_id)
            current = dict(profile.attributes) if profile else {}
        for name, value in changes.items():
            if name in IDENTIFY_CONTROL_KEYS:
                continue
            if removes_attribute(value):
                current.pop(name, None)
            else:
                current[name] = value
        return len(current)

    def identify(
        self,
        person_id: str,
        changes: Mapping[str, JsonValue],
        *,
        update_only: bool = False,
        timestamp: int | None = None,
    ) -> bool:
        """Merge attributes into the person, creating them unless `update_only`; False when nothing applied.

        With a `timestamp` (`_timestamp` in v1, `timestamp` in v2), an attribute last written by a later
        update keeps its value, which is how Customer.io orders rapid updates that arrive out of order.
        """
        with self.lock:
            now = self._clock()
            profile = self.profiles.get(person_id)
            if profile is None:
                if update_only:
                    return False
                profile = Profile(person_id=person_id, attributes={}, created=now, updated=now)
                self.profiles[person_id] = profile
            for name, value in changes.items():
                if name in IDENTIFY_CONTROL_KEYS:
                    continue
                if timestamp is not None:
                    if profile.attribute_timestamps.get(name, timestamp) > timestamp:
                        continue
                    profile.attribute_timestamps[name] = timestamp
                if removes_attribute(value):
                    profile.attributes.pop(name, None)
                else:
                    profile.attributes[name] = value
            profile.updated = now
            self.operations_applied += 1
            return True

    def delete(self, person_id: str) -> None:
        """Remove the person; deleting someone who does not exist is fine, as in Customer.io."""
        with self.lock:
            self.profiles.pop(person_id, None)
            self.operations_applied += 1

    def add_event(
        self,
        person_id: str,
        name: str,
        data: Mapping[str, JsonValue],
        *,
        event_id: str | None,
        timestamp: int | None,
    ) -> bool:
        """Store an event; a repeated event id is ignored (False). An unknown person is created first."""
        with self.lock:
            now = self._clock()
            if event_id is not None and event_id in self.event_ids:
                self.duplicate_events_ignored += 1
                return False
            if person_id not in self.profiles:
                self.profiles[person_id] = Profile(
                    person_id=person_id, attributes={}, created=now, updated=now
                )
            if event_id is not None:
                self.event_ids.add(event_id)
            self.events.append(
                StoredEvent(
                    person_id=person_id,
                    name=name,
                    data=dict(data),
                    event_id=event_id,
                    timestamp=timestamp,
                    received=now,
                )
            )
            self.operations_applied += 1
            return True

    def count_unmodelled(self) -> None:
        """A valid operation this emulator accepts but does not model (objects, devices, relationships)."""
        with self.lock:
            self.operations_unmodelled += 1

    def add_delivery(self, request: Mapping[str, JsonValue], person_id: str | None) -> Delivery:
        """Queue a transactional email; an unknown identifier creates that person, as Customer.io does."""
        with self.lock:
            now = self._clock()
            if person_id is not None and person_id not in self.profiles:
                self.profiles[person_id] = Profile(
                    person_id=person_id, attributes={}, created=now, updated=now
                )
            self._delivery_counter += 1
            delivery = Delivery(
                delivery_id=f"emu-delivery-{self._delivery_counter:08d}",
                queued_at=int(now),
                request=dict(request),
            )
            self.emails.append(delivery)
            self.operations_applied += 1
            return delivery

    def record_request(self, method: str, path: str, status: int, operations: int) -> None:
        with self.lock:
            self.requests.append(
                RequestRecord(
                    method=method, path=path, status=status, time=self._clock(), operations=operations
                )
            )
            self.requests_by_status[status] += 1

    def profile(self, person_id: str) -> Profile | None:
        with self.lock:
            return self.profiles.get(person_id)

    def profiles_json(self) -> dict[str, dict[str, JsonValue]]:
        with self.lock:
            return {person_id: dict(p.attributes) for person_id, p in self.profiles.items()}

    def events_json(self) -> list[dict[str, JsonValue]]:
        with self.lock:
            return [event.to_json() for event in self.events]

    def emails_json(self) -> list[dict[str, JsonValue]]:
        with self.lock:
            return [delivery.to_json() for delivery in self.emails]

    def requests_json(self) -> list[dict[str, JsonValue]]:
        with self.lock:
            return [record.to_json() for record in self.requests]

    def counters_json(self) -> dict[str, JsonValue]:
        with self.lock:
            return {
                "requests_total": sum(self.requests_by_status.values()),
                "requests_by_status": {
                    str(status): n for status, n in sorted(self.requests_by_status.items())
                },
                "operations_applied": self.operations_applied,
                "operations_unmodelled": self.operations_unmodelled,
                "duplicate_events_ignored": self.duplicate_events_ignored,
                "profiles": len(self.profiles),
                "events": len(self.events),
                "emails": len(self.emails),
            }
