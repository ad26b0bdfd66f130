"""What a dead letter shows an operator: where it came from, why it is here, and its body's shape only.

Bodies hold email addresses, reset URLs (secrets) and event data, none of which may reach a terminal or a
log: a summary names intent types, member ids, import ids and stream positions, nothing else.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cio_sync.adapters.sqs import FAILURE_REASON_ATTRIBUTE
from cio_sync.customerio.reporting import event_from_message
from cio_sync.imports.chunk import parse_chunk_message
from cio_sync.imports.plan import sources_from_notification
from cio_sync.members.contract import is_member_id
from cio_sync.pipeline.messages import decode_intents
from cio_sync.sync.intents import Intent, MalformedIntent, SendEmail

NO_REASON: Final = "no reason recorded"
SHOWN_MEMBER_IDS: Final = 5


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter as an operator may see it: no body content beyond its shape."""

    queue: str
    message_id: str
    receive_count: int
    sent_at: str | None
    failure_reason: str
    summary: str
    group_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def dead_letter_from(queue: str, message: Mapping[str, Any]) -> DeadLetter:
    attributes = message.get("Attributes") or {}
    reason_attribute = (message.get("MessageAttributes") or {}).get(FAILURE_REASON_ATTRIBUTE) or {}
    return DeadLetter(
        queue=queue,
        message_id=str(message.get("MessageId", "")),
        receive_count=int(attributes.get("ApproximateReceiveCount", 0)),
        sent_at=_iso_from_millis(attributes.get("SentTimestamp")),
        failure_reason=str(reason_attribute.get("StringValue") or NO_REASON),
        summary=summarize_body(queue, str(message.get("Body", ""))),
        group_id=attributes.get("MessageGroupId"),
    )


def summarize_body(queue: str, body: str) -> str:
    """The shape of a body: never its addresses, URLs or event data."""
    summarize = _SUMMARIZERS.get(queue, _opaque)
    try:
        return summarize(body)
    except (ValueError, TypeError, KeyError, AttributeError):
        return _opaque(body)


def _intents_summary(body: str) -> str:
    try:
        intents = decode_intents(body)
    except MalformedIntent:
        member_id = parked_member_id(body)
        if member_id is None:
            raise
        return f"member {member_id}, no intents (the member's profile was refused)"
    kinds = Counter(_intent_label(intent) for intent in intents)
    members = list(dict.fromkeys(intent.member_id for intent in intents))
    shown = ", ".join(members[:SHOWN_MEMBER_IDS])
    more = f" (+{len(members) - SHOWN_MEMBER_IDS} more)" if len(members) > SHOWN_MEMBER_IDS else ""
    types = ", ".join(f"{kind} x{number}" for kind, number in sorted(kinds.items()))
    return f"{len(intents)} intent(s): {types}; member(s) {shown}{more}"


def _intent_label(intent: Intent) -> str:
    return f"{intent.TYPE}({intent.kind})" if isinstance(intent, SendEmail) else intent.TYPE


def parked_member_id(body: str) -> str | None:
    """The track function parks a member whose profile breaks Customer.io's limits as {"member_id": ...}."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict) and set(data) == {"member_id"} and is_member_id(data["member_id"]):
        return str(data["member_id"])
    return None


def _chunk_summary(body: str) -> str:
    chunk = parse_chunk_message(body)
    dry_run = ", dry run" if chunk.dry_run else ""
    return (
        f"import {chunk.import_id} chunk {chunk.chunk} (partition {chunk.partition}): "
        f"{len(chunk.rows)} rows{dry_run}"
    )


def _upload_summary(body: str) -> str:
    event = json.loads(body)
    if not isinstance(event, dict):
        raise ValueError("not an S3 event notification")
    if event.get("Event") == "s3:TestEvent":
        return "S3 test event (the function ignores it)"
    sources = sources_from_notification(body)
    if not sources:
        return "S3 notification naming no import upload"
    # The object key is an admin's file name: not shown, the import id identifies it.
    return "; ".join(
        f"upload: import {source.import_id}{' (dry run)' if source.dry_run else ''}" for source in sources
    )


def _consent_summary(body: str) -> str:
    event = event_from_message(body)
    return f"{event.object_type}_{event.metric} for member {_short(event.customer_id)}"


def _stream_failure_summary(body: str) -> str:
    data = json.loads(body)
    batch = data.get("DDBStreamBatchInfo")
    if isinstance(batch, dict):  # Lambda's on-failure destination record
        condition = (data.get("requestContext") or {}).get("condition", "unknown condition")
        return (
            f"stream batch: shard {_short(batch.get('shardId'))}, sequence "
            f"{_short(batch.get('startSequenceNumber'))} to {_short(batch.get('endSequenceNumber'))} "
            f"({_short(batch.get('batchSize'))} records, {_short(condition)})"
        )
    if "sequenceNumber" in data:  # parked by the member-stream function itself
        key = data.get("member_id")
        # A member id as it is; any other key was hashed when it was parked (it may be an address).
        member = f" of member {_short(key)}" if is_member_id(key) else (" (key hashed)" if key else "")
        return (
            f"stream record {_short(data.get('eventName'))}{member} at sequence "
            f"{_short(data['sequenceNumber'])} (event {_short(data.get('eventID'))})"
        )
    raise ValueError("not a stream failure record")


def _opaque(body: str) -> str:
    return f"unreadable body ({len(body.encode())} bytes)"


def _short(value: object) -> str:
    return str(value)[:100]


_SUMMARIZERS: Final[Mapping[str, Callable[[str], str]]] = {
    "track": _intents_summary,
    "email": _intents_summary,
    "import-file": _upload_summary,
    "import-chunk": _chunk_summary,
    "stream-failures": _stream_failure_summary,
    "consent": _consent_summary,
}


def _iso_from_millis(raw: object) -> str | None:
    try:
        moment = datetime.fromtimestamp(int(str(raw)) / 1000, UTC)
    except (TypeError, ValueError, OverflowError):
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
