"""Dead letters: look at them without consuming them, and send them back to the queue they came from.

A dead letter is either parked by a function with its reason (the `failure_reason` message attribute), or
moved by SQS itself after maxReceiveCount receives (no reason recorded; the function's log has it). What
is shown of a body is its shape only (intent types, member ids, import ids, stream positions): bodies hold
email addresses, reset URLs (secrets) and event data, none of which may reach a terminal or a log.

Redriving is safe because every consumer is idempotent: a sync reads the member's current item, events
carry deterministic ids, emails are sent once per intent id, import chunks re-claim their own rows.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from botocore.exceptions import ClientError

from cio_sync.adapters.sqs import FAILURE_REASON_ATTRIBUTE
from cio_sync.customerio.reporting import event_from_message
from cio_sync.imports.chunk import parse_chunk_message
from cio_sync.imports.plan import sources_from_notification
from cio_sync.members.contract import is_member_id
from cio_sync.pipeline.messages import decode_intents, encode_intents, lane_of
from cio_sync.sync.intents import Intent, MalformedIntent, SendEmail, SyncProfile

# Operator names -> the template's logical ids.
DEAD_LETTER_QUEUES: Final[Mapping[str, str]] = {
    "track": "TrackDeadLetterQueue",
    "email": "EmailDeadLetterQueue",
    "import-file": "ImportFileDeadLetterQueue",
    "import-chunk": "ImportChunkDeadLetterQueue",
    "stream-failures": "StreamFailureQueue",
    "consent": "ConsentDeadLetterQueue",
}
TRACK: Final = "track"
CONSENT: Final = "consent"
STREAM_FAILURES: Final = "stream-failures"
NO_REASON: Final = "no reason recorded"
# The message group SqsQueues uses when it parks a dead letter on a FIFO queue: it orders nothing.
PARKED_GROUP: Final = "dead-letters"
FALLBACK_GROUP: Final = "redriven"
PEEK_VISIBILITY_S: Final = 30  # hidden only while being listed, then made visible again at once
REDRIVE_VISIBILITY_S: Final = 60  # long enough to send and delete one receive's worth
RECEIVE_WAIT_S: Final = 1  # long polling asks every SQS server, so an empty answer means empty
SQS_BATCH: Final = 10
SHOWN_MEMBER_IDS: Final = 5
STREAM_FAILURE_ADVICE: Final = (
    "stream-failures entries point at member stream records, not at messages, so they cannot be sent "
    "again. Fix the cause (the member-stream function's log), then run `cio-sync reconcile "
    "--from-failures`: it syncs exactly the members they name and removes the entries it repaired "
    "(docs/operations.md)"
)


class NoSourceQueue(LookupError):
    """No queue (or more than one) names this dead-letter queue in its RedrivePolicy."""

    def __init__(self, queue: str, found: int) -> None:
        super().__init__(
            f"{queue}: {found} queues redrive into it (need exactly 1), so there is nowhere to send it back"
        )


class NotRedrivable(ValueError):
    def __init__(self) -> None:
        super().__init__(STREAM_FAILURE_ADVICE)


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter as an operator may see it: no body content beyond its shape."""

    queue: str
    message_id: str
    receive_count: int
    sent_at: str | None
    reason: str
    summary: str
    group_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "message_id": self.message_id,
            "receive_count": self.receive_count,
            "sent_at": self.sent_at,
            "failure_reason": self.reason,
            "summary": self.summary,
            "group_id": self.group_id,
        }


@dataclass
class QueueListing:
    queue: str
    url: str
    visible: int
    in_flight: int
    letters: list[DeadLetter] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return len(self.letters) < self.visible


@dataclass
class RedriveOutcome:
    queue: str
    source_url: str
    planned: int
    moved: int = 0
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)


# --- pure: what a message is, what to send back -------------------------------------------------------


def dead_letter_from(queue: str, message: Mapping[str, Any]) -> DeadLetter:
    attributes = message.get("Attributes") or {}
    reason_attribute = (message.get("MessageAttributes") or {}).get(FAILURE_REASON_ATTRIBUTE) or {}
    return DeadLetter(
        queue=queue,
        message_id=str(message.get("MessageId", "")),
        receive_count=int(attributes.get("ApproximateReceiveCount", 0)),
        sent_at=_iso_from_millis(attributes.get("SentTimestamp")),
        reason=str(reason_attribute.get("StringValue") or NO_REASON),
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
        member_id = _member_only(body)
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


def _member_only(body: str) -> str | None:
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
    member_id = _member_only(body)
    if member_id is None:
        return body
    return encode_intents([SyncProfile(intent_id=f"redrive:{message_id}", member_id=member_id)])


def _sendable(value: Mapping[str, Any]) -> dict[str, Any]:
    """A received message attribute as SendMessage takes it (empty list fields are refused)."""
    return {name: item for name, item in value.items() if not (isinstance(item, list) and not item)}


# --- the SQS adapter ----------------------------------------------------------------------------------


class DeadLetterQueues:
    """Peek at and redrive the dead-letter queues named in `urls` (operator name -> queue URL)."""

    def __init__(self, sqs: Any, urls: Mapping[str, str], *, wait_s: int = RECEIVE_WAIT_S) -> None:
        self._sqs = sqs
        self._urls = dict(urls)
        self._wait_s = wait_s

    def url(self, queue: str) -> str:
        return self._urls[queue]

    def counts(self, queue: str) -> tuple[int, int]:
        """(visible, in flight), as SQS approximates them."""
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._urls[queue],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes.get("ApproximateNumberOfMessages", 0)),
            int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        )

    def peek(self, queue: str, limit: int) -> QueueListing:
        """Up to `limit` dead letters, made visible again before returning.

        On a FIFO queue SQS returns no more of a message group while part of it is in flight, so a peek
        sees at most one receive's worth (10) per group; `partial` says when that happened.
        """
        url = self._urls[queue]
        visible, in_flight = self.counts(queue)
        listing = QueueListing(queue, url, visible, in_flight)
        handles: list[str] = []
        seen: set[str] = set()
        try:
            while len(listing.letters) < min(limit, visible):
                batch = self._receive(url, min(SQS_BATCH, limit - len(listing.letters)), PEEK_VISIBILITY_S)
                fresh = [message for message in batch if message["MessageId"] not in seen]
                if not fresh:
                    break  # empty, or the first ones came back: the listing outlived its visibility timeout
                for message in fresh:
                    seen.add(message["MessageId"])
                    handles.append(message["ReceiptHandle"])
                    listing.letters.append(dead_letter_from(queue, message))
        finally:
            self._make_visible(url, handles)
        return listing

    def source_of(self, queue: str) -> str:
        """The queue whose RedrivePolicy targets this dead-letter queue."""
        if queue == STREAM_FAILURES:
            raise NotRedrivable
        found = self._sqs.list_dead_letter_source_queues(QueueUrl=self._urls[queue]).get("queueUrls", [])
        if len(found) != 1:
            raise NoSourceQueue(queue, len(found))
        return str(found[0])

    def redrive(
        self,
        queue: str,
        *,
        lanes: int,
        limit: int | None = None,
        progress: Callable[[RedriveOutcome], None] | None = None,
    ) -> RedriveOutcome:
        """Send each dead letter back to its source queue, then delete it here.

        At most the number visible when it starts (or `limit`): a message that fails again and comes
        back while this runs waits for the next redrive instead of looping. A send SQS refuses leaves
        the dead letter where it is (visible again after REDRIVE_VISIBILITY_S).
        """
        url = self._urls[queue]
        source = self.source_of(queue)
        visible, _ = self.counts(queue)
        outcome = RedriveOutcome(queue, source, visible if limit is None else min(visible, limit))
        fifo = source.endswith(".fifo")
        while outcome.moved + outcome.failed < outcome.planned:
            wanted = min(SQS_BATCH, outcome.planned - outcome.moved - outcome.failed)
            batch = self._receive(url, wanted, REDRIVE_VISIBILITY_S)
            if not batch:
                break
            for message in batch:
                request = redrive_request(queue, message, fifo=fifo, lanes=lanes)
                try:
                    self._sqs.send_message(QueueUrl=source, **request)
                except ClientError as error:
                    outcome.failed += 1
                    outcome.errors[str(error.response.get("Error", {}).get("Code", "unknown"))] += 1
                    continue
                self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                outcome.moved += 1
            if progress is not None:
                progress(outcome)
        return outcome

    def _receive(self, url: str, count: int, visibility_s: int) -> list[dict[str, Any]]:
        response = self._sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=count,
            VisibilityTimeout=visibility_s,
            WaitTimeSeconds=self._wait_s,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def _make_visible(self, url: str, handles: Sequence[str]) -> None:
        for start in range(0, len(handles), SQS_BATCH):
            entries = [
                {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for index, handle in enumerate(handles[start : start + SQS_BATCH])
            ]
            # Best effort: a message deleted meanwhile has no handle to change, and the rest become
            # visible by themselves after PEEK_VISIBILITY_S anyway.
            self._sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
