"""What sending a dead letter back means: the SendMessage request that puts it on its source queue.

Redriving is safe because every consumer is idempotent: a sync reads the member's current item, events
carry deterministic ids, emails are sent once per intent id, import chunks re-claim their own rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

from cio_sync.adapters.sqs import FAILURE_REASON_ATTRIBUTE
from cio_sync.customerio.reporting import event_from_message
from cio_sync.pipeline.messages import decode_intents, encode_intents, lane_of
from cio_sync.sync.intents import MalformedIntent, SyncProfile
from cio_sync_cli.dlq_summary import parked_member_id

TRACK: Final = "track"
CONSENT: Final = "consent"
# The message group SqsQueues uses when it parks a dead letter on a FIFO queue: it orders nothing.
PARKED_GROUP: Final = "dead-letters"
FALLBACK_GROUP: Final = "redriven"


def redrive_request(
    queue: str,
    message: Mapping[str, Any],
    *,
    fifo: bool,
    lanes: int,
    new_deduplication_id: Callable[[], str] = lambda: uuid.uuid4().hex,
) -> dict[str, Any]:
    """The SendMessage arguments (without QueueUrl) that put a dead letter back on its source queue.

    The failure reason is dropped (the consumer reads bodies only). FIFO keeps the dead letter's group,
    except the parking group, which orders nothing: a track message goes back to its member's lane. The
    deduplication id is fresh: the original one may still be inside SQS's five-minute window.
    """
    body = str(message.get("Body", ""))
    if queue == TRACK:
        body = _readable_by_track(body, str(message.get("MessageId", "")))
    request: dict[str, Any] = {"MessageBody": body}
    attributes = {
        name: _sendable(value)
        for name, value in (message.get("MessageAttributes") or {}).items()
        if name != FAILURE_REASON_ATTRIBUTE
    }
    if attributes:
        request["MessageAttributes"] = attributes
    if fifo:
        request["MessageGroupId"] = redrive_group(queue, message, body, lanes)
        request["MessageDeduplicationId"] = new_deduplication_id()
    return request


def redrive_group(queue: str, message: Mapping[str, Any], body: str, lanes: int) -> str:
    group = (message.get("Attributes") or {}).get("MessageGroupId")
    if group and group != PARKED_GROUP:
        return str(group)
    if queue == TRACK:
        try:
            return lane_of(decode_intents(body)[0].member_id, lanes)
        except MalformedIntent:
            pass
    if queue == CONSENT:
        try:
            return lane_of(event_from_message(body).customer_id, lanes)
        except ValueError:
            pass
    return str(group or FALLBACK_GROUP)


def _readable_by_track(body: str, message_id: str) -> str:
    """A parked `{"member_id": ...}` becomes a sync of that member: what retrying it means."""
    member_id = parked_member_id(body)
    if member_id is None:
        return body
    return encode_intents([SyncProfile(intent_id=f"redrive:{message_id}", member_id=member_id)])


def _sendable(value: Mapping[str, Any]) -> dict[str, Any]:
    """A received message attribute as SendMessage takes it (empty list fields are refused)."""
    return {name: item for name, item in value.items() if not (isinstance(item, list) and not item)}
