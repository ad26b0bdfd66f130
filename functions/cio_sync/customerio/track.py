"""The Track API client: identify, delete and events (v1), and packed batches (v2) with per-item outcomes.

Every Track call is idempotent (identify sets state, delete of a missing person is fine, an event id is
deduplicated by Customer.io), so every retryable failure is retried here within the caller's deadline.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import requests

from cio_sync.customerio.batch import (
    Delete,
    Event,
    Identify,
    JsonValue,
    Operation,
    batch_item,
    encode,
    kind,
    plan,
    refusal,
)
from cio_sync.customerio.client import CustomerIoClient
from cio_sync.customerio.credentials import Credentials
from cio_sync.customerio.dryrun import log_not_sent
from cio_sync.customerio.errors import (
    CustomerIoError,
    InvalidRequest,
    PermanentError,
    UnattributedBatchErrors,
    scrub,
    string_values,
)
from cio_sync.customerio.transport import (
    basic_auth,
    count_error,
    describe_batch_error,
)
from cio_sync.settings import Region

TRACK_HOSTS: Mapping[Region, str] = {"us": "https://track.customer.io", "eu": "https://track-eu.customer.io"}
HTTP_MULTI_STATUS = 207


def sensitive_values(operation: Operation) -> Iterator[str]:
    if isinstance(operation, Identify):
        yield from string_values(operation.attributes)
    elif isinstance(operation, Event):
        yield from string_values(operation.data)


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


class TrackClient(CustomerIoClient):
    """Track API: Basic auth with site id and Track key; 100 requests/s by default (fair use)."""

    api = "track"
    hosts = TRACK_HOSTS
    default_rate_per_s = 100.0

    @staticmethod
    def authorization(credentials: Credentials) -> dict[str, str]:
        return basic_auth(credentials.site_id, credentials.track_api_key)

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

    def send_batch(self, operations: Sequence[Operation], deadline: float | None = None) -> BatchResult:
        """Send all operations in as few POST /api/v2/batch requests as the limits allow.

        Per operation: refused before sending (too large), rejected by Customer.io (a 207 item error, or a
        400 for a request holding it alone: a rejected request is split in halves until the operations at
        fault are found), or succeeded. Retryable failures and broken configuration (401, 403, 404, a
        redirect to the other region) raise instead, so the caller returns the whole unit of work to its
        queue; everything here is idempotent, so resending what already succeeded is harmless.
        """
        packing = plan(operations)
        errors: dict[int, CustomerIoError] = dict(packing.refused)
        if packing.refused:
            count_error(next(iter(packing.refused.values())), len(packing.refused))
        if not self.enabled:
            for request in packing.requests:
                for index in request:
                    operation = operations[index]
                    fields = batch_item(operation).get("attributes") or {}
                    names = fields.keys() if isinstance(fields, Mapping) else ()
                    log_not_sent(self.api, f"batch {kind(operation)}", operation.member_id, names)
            return BatchResult(len(operations), errors)
        pending: list[tuple[int, ...]] = list(packing.requests)
        while pending:
            request = pending.pop(0)
            sensitive = [value for index in request for value in sensitive_values(operations[index])]
            try:
                response = self._transport.send(
                    "POST",
                    "/api/v2/batch",
                    packing.body(request),
                    operation="batch",
                    deadline=deadline,
                    sensitive=sensitive,
                )
            except PermanentError as error:
                if len(request) > 1:
                    # Customer.io refused the request as a whole (one bad item can do that): split it so
                    # only the operations actually at fault are reported, in order.
                    half = len(request) // 2
                    pending[0:0] = [request[:half], request[half:]]
                    continue
                errors.update(dict.fromkeys(request, error))
                continue
            if response.status_code == HTTP_MULTI_STATUS:
                errors.update(_partial_failures(response, request, sensitive))
        return BatchResult(len(operations), errors)


def _customer_path(member_id: str) -> str:
    return f"/api/v1/customers/{quote(member_id, safe='')}"


def _partial_failures(
    response: requests.Response, request: Sequence[int], sensitive: Sequence[str]
) -> dict[int, CustomerIoError]:
    """Map a 207's `batch_index` errors (positions in this request) back to input operations.

    An error we cannot place fails the rest of the request as retryable: we never report success we cannot
    vouch for, nor a rejection we cannot pin on an operation.
    """
    try:
        entries = response.json().get("errors")
    except (ValueError, AttributeError):
        entries = None
    messages: dict[int, list[str]] = {}
    unplaced: list[str] = []
    for entry in entries if isinstance(entries, list) else [None]:
        position = entry.get("batch_index") if isinstance(entry, dict) else None
        text = scrub(describe_batch_error(entry), sensitive) if entry is not None else "no error list"
        if isinstance(position, int) and not isinstance(position, bool) and 0 <= position < len(request):
            messages.setdefault(request[position], []).append(text)
        else:
            unplaced.append(text)
    failures: dict[int, CustomerIoError] = {
        index: InvalidRequest(HTTP_MULTI_STATUS, f"Customer.io batch item rejected: {'; '.join(texts)}")
        for index, texts in messages.items()
    }
    if unplaced:
        # Nothing is known to be wrong with any one operation: retry them, never park them as rejected.
        unattributed = UnattributedBatchErrors(
            HTTP_MULTI_STATUS,
            f"Customer.io batch reported errors it did not tie to an item: {scrub('; '.join(unplaced))}",
        )
        failures.update({index: unattributed for index in request if index not in failures})
    if failures:
        count_error(next(iter(failures.values())), len(failures))
    return failures
