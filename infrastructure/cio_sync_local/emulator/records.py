"""The records of the emulated workspace (a person, an event, a delivery) and Customer.io's readings of
attribute values (removal, `unsubscribed`, subscription preferences in dot notation, emails as keys).
`state.EmulatorState` holds them; the APIs read them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

JsonValue = Any
"""A decoded JSON value; attributes and event data are arbitrary JSON."""

IDENTIFY_CONTROL_KEYS = frozenset({"_update", "_timestamp", "id", "cio_relationships"})
"""Identify body keys that steer the call and are not stored as attributes."""


def removes_attribute(value: JsonValue) -> bool:
    """Customer.io removes an attribute that is set to null or to the empty string."""
    return value is None or value == ""


def is_unsubscribed(attributes: Mapping[str, JsonValue]) -> bool:
    """Customer.io's reading of `unsubscribed`: true in any case, 1 or "1" (the Track document says so)."""
    value = attributes.get("unsubscribed")
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in {"true", "1"}


PREFERENCES = "cio_subscription_preferences"


def set_preference(attributes: dict[str, JsonValue], path: list[str], value: JsonValue) -> None:
    """JSON dot notation (`cio_subscription_preferences.topics.topic_2`) updates one topic and keeps the
    others, as Customer.io's Track API describes; a nested object in the identify replaces them all."""
    current = attributes.get(PREFERENCES)
    node: dict[str, JsonValue] = dict(current) if isinstance(current, dict) else {}
    attributes[PREFERENCES] = node
    for key in path[:-1]:
        child = node.get(key)
        node[key] = dict(child) if isinstance(child, dict) else {}
        node = node[key]
    if removes_attribute(value):
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


def email_key(value: JsonValue) -> str | None:
    """Emails identify people case-insensitively (Track document, identify operation)."""
    return value.strip().lower() if isinstance(value, str) and value.strip() else None


class IdentifyOutcome(Enum):
    APPLIED = "applied"
    NOT_FOUND = "not_found"
    """`_update: true` for a person who does not exist: nothing created (a "Failed Attribute Change")."""
    CONFLICT = "conflict"
    """Email is an identifier and belongs to someone else: nothing applied ("Attribute Update Failure")."""
    SUPPRESSED = "suppressed"
    """The id is suppressed: Customer.io accepts the call and creates nobody."""


@dataclass
class Profile:
    """One person. `created` is when the emulator first saw them; `created_at` is only ever an attribute.

    `cio_id` is the immutable identifier Customer.io assigns; `seq` orders people by creation for the App
    API's paging. `attribute_timestamps` holds the `_timestamp` / `timestamp` that last wrote each
    attribute (update ordering); `attribute_set_at` when each attribute was last set (the App API's
    `timestamps`).
    """

    person_id: str
    attributes: dict[str, JsonValue]
    created: float
    updated: float
    seq: int = 0
    cio_id: str = ""
    attribute_timestamps: dict[str, int] = field(default_factory=dict)
    attribute_set_at: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "id": self.person_id,
            "cio_id": self.cio_id,
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


DeliveryStatus = Literal["sent", "suppressed", "draft"]


@dataclass(frozen=True)
class Delivery:
    """A transactional email accepted by the App API; the body is kept whole for assertions.

    `effective` holds the sending options as Customer.io applies them (the request's value, else the
    transactional message's setting, else the documented default). `status` is what became of it:
    `sent`, `draft` (`queue_draft`), or `suppressed` (the person is unsubscribed and the message may not
    be sent to unsubscribed people; `suppressed_reason` says so).
    """

    delivery_id: str
    queued_at: int
    request: Mapping[str, JsonValue]
    person_id: str | None
    message_id: int | None
    effective: Mapping[str, JsonValue]
    status: DeliveryStatus
    suppressed_reason: str | None

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "delivery_id": self.delivery_id,
            "queued_at": self.queued_at,
            **self.request,
            "person_id": self.person_id,
            "message": self.message_id,
            "effective": dict(self.effective),
            "status": self.status,
            "suppressed_reason": self.suppressed_reason,
        }
