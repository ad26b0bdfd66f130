"""Track API v1 calls (one request per member), as Northstar sent them: only the benchmark's baseline and
the tests of the transport use them, so they are not shipped.
"""

from __future__ import annotations

from urllib.parse import quote

from cio_sync.adapters.customerio.dryrun import log_not_sent
from cio_sync.adapters.customerio.track_client import TrackClient, sensitive_values
from cio_sync.adapters.customerio.transport import count_error
from cio_sync.customerio.batch import Delete, Event, Identify, refusal
from cio_sync.customerio.errors import InvalidRequest
from cio_sync.customerio.payloads import JsonValue, encode


class TrackV1Client(TrackClient):
    """The runtime's Track client (same transport, pacing, retries) plus v1 identify, delete and event."""

    def identify(self, operation: Identify, deadline: float | None = None) -> None:
        """PUT /api/v1/customers/{id}: create the person or merge these attributes into the profile."""
        if not self.enabled:
            log_not_sent(self.api, "identify", operation.member_id, operation.attributes)
            return
        body: dict[str, JsonValue] = {
            name: _v1_attribute(operation.member_id, name, value)
            for name, value in operation.attributes.items()
        }
        if operation.timestamp is not None:
            body["_timestamp"] = operation.timestamp
        self._transport.send(
            "PUT",
            _customer_path(operation.member_id),
            encode(body),
            operation="identify",
            deadline=deadline,
            sensitive=sensitive_values(operation),
        )

    def delete(self, operation: Delete, deadline: float | None = None) -> None:
        """DELETE /api/v1/customers/{id}: remove the person (a missing one is fine)."""
        if not self.enabled:
            log_not_sent(self.api, "delete", operation.member_id)
            return
        self._transport.send(
            "DELETE", _customer_path(operation.member_id), None, operation="delete", deadline=deadline
        )

    def track_event(self, operation: Event, deadline: float | None = None) -> None:
        """POST /api/v1/customers/{id}/events with the event's deterministic id and timestamp."""
        if not self.enabled:
            log_not_sent(self.api, "event", operation.member_id, operation.data, event_name=operation.name)
            return
        refused = refusal(operation)
        if refused is not None:
            count_error(refused)
            raise refused
        body = {
            "name": operation.name,
            "id": operation.event_id,
            "timestamp": operation.timestamp,
            "data": dict(operation.data),
        }
        self._transport.send(
            "POST",
            _customer_path(operation.member_id) + "/events",
            encode(body),
            operation="event",
            deadline=deadline,
            sensitive=sensitive_values(operation),
        )


def _v1_attribute(member_id: str, name: str, value: JsonValue) -> str | int | bool | None:
    """v1 identify takes strings, integers and booleans, and null, which removes the attribute: the real
    service accepts it although the OpenAPI document lists only the other three (docs/customerio.md)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise InvalidRequest(
        None,
        f"identify for member {member_id}: attribute {name} is a {type(value).__name__}; v1 identify takes "
        "strings, integers and booleans only (send it in a batch instead); not sent",
    )


def _customer_path(member_id: str) -> str:
    return f"/api/v1/customers/{quote(member_id, safe='')}"
