"""The reporting-webhook receiver's flow: verify, parse, queue in the member's lane, answer.

Answers are decided here and only here: 4xx with a reason (nothing queued) for what must not be trusted
(unsigned, forged, stale, oversized, not JSON), 2xx for what is queued or merely dropped. A failure to
queue raises (Lambda answers 5xx, Customer.io retries), so an accepted event is never lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple, Protocol

from cio_sync.customerio.reporting import (
    MAX_BODY_BYTES,
    Refused,
    ReportingEvent,
    Unusable,
    parse_event,
    verify_signature,
)
from cio_sync.pipeline.messages import TRACK_LANES, lane_of


class ConsentQueue(Protocol):
    def put(self, event: ReportingEvent, group: str) -> None:
        """Queue the event in its FIFO group, deduplicated on its event id."""
        ...


class Reply(NamedTuple):
    status: int
    reason: str  # queued, ignored, not_a_member, or why it was refused (the metric's name)


def receive(
    body: bytes | None,
    headers: Mapping[str, str],
    *,
    signing_key: Callable[[], bytes],
    queue: ConsentQueue,
    now: float,
) -> Reply:
    """`body` is None when it could not be decoded; `headers` are lowercased (function URL, format 2.0)."""
    try:
        if body is None:
            raise Refused("malformed")
        if len(body) > MAX_BODY_BYTES:
            raise Refused("oversized", 413)
        verify_signature(
            body, headers.get("x-cio-timestamp"), headers.get("x-cio-signature"), signing_key(), now
        )
        event = parse_event(body, int(now))
    except Refused as refused:
        return Reply(refused.status, refused.reason)
    except Unusable as unusable:
        return Reply(200, unusable.reason)
    queue.put(event, lane_of(event.customer_id, TRACK_LANES))
    return Reply(202, "queued")
