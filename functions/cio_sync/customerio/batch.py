"""Track operations and the packer that puts them into as few `/api/v2/batch` requests as the limits allow.

Pure: no HTTP here. Customer.io takes a batch body under 500 KB with each item at most 32 KB; we read "KB"
as 1000 bytes, the stricter reading, so what we send passes either way. Packing keeps the input order
(operations for one member must not overtake each other), so it fills each request before starting the
next: with order fixed, that gives the fewest requests. An operation that alone is too large, or cannot be
written as JSON, is refused on its own and never sinks the rest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cio_sync.customerio.errors import CustomerIoError, InvalidRequest, PayloadTooLarge, PermanentError
from cio_sync.customerio.payloads import JsonValue, encode

MAX_ITEM_BYTES = 32_000
MAX_REQUEST_BYTES = 500_000  # a body must be strictly smaller
_BODY_OPEN = b'{"batch":['
_BODY_CLOSE = b"]}"
_EMPTY_BODY_BYTES = len(_BODY_OPEN) + len(_BODY_CLOSE)
_ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}", re.IGNORECASE)


def _require_member_id(member_id: str) -> None:
    if not member_id:
        raise ValueError("a Customer.io operation needs a non-empty member id")


@dataclass(frozen=True)
class Identify:
    """Create or update a person; an attribute set to None (or "") removes it from the profile."""

    member_id: str
    attributes: Mapping[str, JsonValue]
    timestamp: int | None = None  # unix seconds; orders rapid updates of one person

    def __post_init__(self) -> None:
        _require_member_id(self.member_id)


@dataclass(frozen=True)
class Delete:
    """Delete a person; deleting one who does not exist is fine."""

    member_id: str

    def __post_init__(self) -> None:
        _require_member_id(self.member_id)


@dataclass(frozen=True)
class Suppression:
    """Suppress a person (so no source can add the id back: an erasure), or unsuppress before a sign-up."""

    member_id: str
    suppress: bool

    def __post_init__(self) -> None:
        _require_member_id(self.member_id)


@dataclass(frozen=True)
class Event:
    """Track an event; Customer.io ignores a repeated `event_id` (a ULID), so replays are harmless."""

    member_id: str
    name: str
    data: Mapping[str, JsonValue]
    event_id: str  # a ULID, derived from what caused the event so a replay repeats it
    timestamp: int  # unix seconds

    def __post_init__(self) -> None:
        _require_member_id(self.member_id)
        if not self.name:
            raise ValueError("a Customer.io event needs a name")


def refusal(operation: Operation) -> InvalidRequest | None:
    """Why Customer.io would refuse this operation as it stands, checked before anything is sent.

    Data from a queue can be wrong; that must fail the one operation, never raise for a whole batch.
    """
    if isinstance(operation, Event) and not _ULID.fullmatch(operation.event_id):
        return InvalidRequest(
            None, f"event for member {operation.member_id}: the event id is not a ULID; not sent"
        )
    return None


Operation = Identify | Delete | Suppression | Event


def kind(operation: Operation) -> str:
    """The operation's name as logs and metrics show it."""
    if isinstance(operation, Identify):
        return "identify"
    if isinstance(operation, Delete):
        return "delete"
    if isinstance(operation, Suppression):
        return "suppress" if operation.suppress else "unsuppress"
    return "event"


def batch_item(operation: Operation) -> dict[str, JsonValue]:
    """The v2 batch item for one operation (shapes from Customer.io's OpenAPI document)."""
    item: dict[str, JsonValue] = {"type": "person", "identifiers": {"id": operation.member_id}}
    if isinstance(operation, Identify):
        item["action"] = "identify"
        item["attributes"] = dict(operation.attributes)
        if operation.timestamp is not None:
            item["timestamp"] = operation.timestamp
    elif isinstance(operation, Delete | Suppression):
        item["action"] = kind(operation)
    else:
        item["action"] = "event"
        item["name"] = operation.name
        item["id"] = operation.event_id
        item["timestamp"] = operation.timestamp
        item["attributes"] = dict(operation.data)
    return item


def request_body(items: Sequence[bytes]) -> bytes:
    """A batch body from already encoded items."""
    return _BODY_OPEN + b",".join(items) + _BODY_CLOSE


@dataclass(frozen=True)
class Packing:
    """Which input operations go in which request (by index, in order), and which were refused."""

    requests: tuple[tuple[int, ...], ...]
    encoded: Mapping[int, bytes]
    refused: Mapping[int, PermanentError]

    def body(self, request: Sequence[int]) -> bytes:
        return request_body([self.encoded[index] for index in request])


def plan(operations: Sequence[Operation]) -> Packing:
    """Pack operations, in order, into requests under the body limit; refuse what cannot be sent."""
    requests: list[tuple[int, ...]] = []
    encoded: dict[int, bytes] = {}
    refused: dict[int, PermanentError] = {}
    current: list[int] = []
    current_bytes = _EMPTY_BODY_BYTES
    for index, operation in enumerate(operations):
        refused_now = refusal(operation)
        if refused_now is not None:
            refused[index] = refused_now
            continue
        try:
            item = encode(batch_item(operation))
        except (TypeError, ValueError):
            refused[index] = InvalidRequest(
                None, f"{kind(operation)} for member {operation.member_id} is not valid JSON; not sent"
            )
            continue
        if len(item) > MAX_ITEM_BYTES:
            refused[index] = PayloadTooLarge(
                None,
                f"{kind(operation)} for member {operation.member_id} is {len(item)} bytes, over the "
                f"{MAX_ITEM_BYTES}-byte batch item limit; not sent",
            )
            continue
        encoded[index] = item
        added = len(item) + (1 if current else 0)  # the comma between items
        if current and current_bytes + added >= MAX_REQUEST_BYTES:
            requests.append(tuple(current))
            current, current_bytes = [], _EMPTY_BODY_BYTES
            added = len(item)
        current.append(index)
        current_bytes += added
    if current:
        requests.append(tuple(current))
    return Packing(requests=tuple(requests), encoded=encoded, refused=refused)


def pack(operations: Sequence[Operation]) -> list[list[Operation]]:
    """The requests `plan` would send, as operations; refused operations are left out."""
    packing = plan(operations)
    return [[operations[index] for index in request] for request in packing.requests]


@dataclass(frozen=True)
class BatchResult:
    """The outcome of each input operation, by its index: success, or the error that stopped it."""

    size: int
    errors: Mapping[int, CustomerIoError]

    def __getitem__(self, index: int) -> CustomerIoError | None:
        if not 0 <= index < self.size:
            raise IndexError(index)
        return self.errors.get(index)

    def __len__(self) -> int:
        return self.size

    def succeeded(self, index: int) -> bool:
        return self[index] is None

    @property
    def all_succeeded(self) -> bool:
        return not self.errors

    @property
    def failed_indices(self) -> list[int]:
        return sorted(self.errors)
