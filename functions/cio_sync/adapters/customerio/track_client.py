"""The Track API client: packed batches (`/api/v2/batch`) with per-item outcomes.

Every Track operation is idempotent (identify sets state, delete of a missing person is fine, an event id
is deduplicated by Customer.io), so every retryable failure is retried here within the caller's deadline.
(Northstar's one-request-per-member v1 calls live with the benchmark that measures them, never shipped.)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from cio_sync.adapters.customerio.client import CustomerIoClient
from cio_sync.adapters.customerio.credentials import Credentials
from cio_sync.adapters.customerio.dryrun import log_not_sent
from cio_sync.adapters.customerio.transport import basic_auth, count_error
from cio_sync.adapters.customerio.transport_replies import Reply, describe_batch_error
from cio_sync.customerio.batch import (
    BatchResult,
    Event,
    Identify,
    Operation,
    batch_item,
    kind,
    plan,
)
from cio_sync.customerio.errors import (
    CustomerIoError,
    PermanentError,
    UnattributedBatchErrors,
    batch_item_error,
    scrub,
    string_values,
)
from cio_sync.customerio.regions import TRACK_HOSTS

HTTP_MULTI_STATUS = 207


def sensitive_values(operation: Operation) -> Iterator[str]:
    if isinstance(operation, Identify):
        yield from string_values(operation.attributes)
    elif isinstance(operation, Event):
        yield from string_values(operation.data)


class TrackClient(CustomerIoClient):
    """Track API: Basic auth with site id and Track key; 100 requests/s by default (fair use)."""

    api = "track"
    hosts = TRACK_HOSTS
    default_rate_per_s = 100.0

    @staticmethod
    def authorization(credentials: Credentials) -> dict[str, str]:
        return basic_auth(credentials.site_id, credentials.track_api_key)

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


def _partial_failures(
    response: Reply, request: Sequence[int], sensitive: Sequence[str]
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
    reasons: dict[int, list[str]] = {}
    unplaced: list[str] = []
    for entry in entries if isinstance(entries, list) else [None]:
        position = entry.get("batch_index") if isinstance(entry, dict) else None
        text = scrub(describe_batch_error(entry), sensitive) if entry is not None else "no error list"
        if isinstance(position, int) and not isinstance(position, bool) and 0 <= position < len(request):
            messages.setdefault(request[position], []).append(text)
            reason = entry.get("reason") if isinstance(entry, dict) else None
            reasons.setdefault(request[position], []).append(reason if isinstance(reason, str) else "")
        else:
            unplaced.append(text)
    failures: dict[int, CustomerIoError] = {
        index: batch_item_error(reasons[index], "; ".join(texts)) for index, texts in messages.items()
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
