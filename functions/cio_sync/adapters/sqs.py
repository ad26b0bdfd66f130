"""SQS adapters: publish intents, park dead letters, postpone failed messages, send import chunks.

Every SendMessageBatch goes through one batcher (`batches`), which applies SQS's rules for a batch: at most
10 entries, a byte budget for the whole batch, and, on FIFO queues where a resend must never reorder a
group, at most one entry per message group.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from cio_sync.aws_limits import SQS_BATCH
from cio_sync.members.contract import safe_key
from cio_sync.observability import logger
from cio_sync.pipeline.messages import TrackMessage
from cio_sync.sync.intents import SendEmail

if TYPE_CHECKING:  # the email and stream functions never load the import's modules
    from cio_sync.imports.chunk import ChunkMessage

# SQS caps a whole SendMessageBatch at 256 KiB, not only each message: leave room for attributes.
SQS_BATCH_BYTES = 240_000
# Import chunks are larger and fewer: stay further clear of the limit.
CHUNK_BATCH_BYTES: Final = 200 * 1024
CHUNK_SEND_ATTEMPTS: Final = 4
FAILURE_REASON_ATTRIBUTE = "failure_reason"


class SqsQueues:
    """Publishes to the track (FIFO) and email queues and parks dead letters with their reasons."""

    def __init__(
        self,
        sqs: Any,
        track_queue_url: str | None,
        email_queue_url: str | None,
        stream_failure_queue_url: str | None = None,
    ) -> None:
        self._sqs = sqs
        self._track_url = track_queue_url
        self._email_url = email_queue_url
        self._stream_failure_url = stream_failure_queue_url

    def publish_track(self, messages: Sequence[TrackMessage]) -> list[int]:
        if not messages:
            return []
        entries = [
            {
                "Id": str(index),
                "MessageBody": message.body(),
                "MessageGroupId": message.lane,
                "MessageDeduplicationId": message.deduplication_id,
            }
            for index, message in enumerate(messages)
        ]
        return self._send_batches(_required(self._track_url, "TRACK_QUEUE_URL"), entries)

    def publish_email(self, intents: Sequence[SendEmail]) -> list[int]:
        if not intents:
            return []
        entries = [
            {"Id": str(index), "MessageBody": intent.to_json()} for index, intent in enumerate(intents)
        ]
        return self._send_batches(_required(self._email_url, "EMAIL_QUEUE_URL"), entries)

    def record_stream_failure(self, record: Mapping[str, Any], reason: str) -> None:
        """Park a stream record: its table key, position and reason only (images may hold personal data).

        The key (a member id, or whatever id a writer stored) is what a repair needs: `reconcile --member`.
        """
        dynamodb = record.get("dynamodb") or {}
        key = ((dynamodb.get("Keys") or {}).get("id") or {}).get("S")
        pointer = {
            "member_id": safe_key(key),
            "eventID": record.get("eventID"),
            "eventName": record.get("eventName"),
            "eventSourceARN": record.get("eventSourceARN"),
            "sequenceNumber": dynamodb.get("SequenceNumber"),
            "reason": reason,
        }
        send_with_reason(
            self._sqs,
            _required(self._stream_failure_url, "STREAM_FAILURE_QUEUE_URL"),
            json.dumps(pointer),
            reason,
        )

    def dead_letter_to(self, queue_url: str, body: str, reason: str) -> None:
        send_with_reason(self._sqs, queue_url, body, reason)

    def _send_batches(self, queue_url: str, entries: Sequence[dict[str, Any]]) -> list[int]:
        failed: list[int] = []
        for chunk in batches(entries):
            try:
                response = self._sqs.send_message_batch(QueueUrl=queue_url, Entries=list(chunk))
            except Exception:
                logger.exception("SQS send_message_batch failed", extra={"entries": len(chunk)})
                failed.extend(int(entry["Id"]) for entry in chunk)
                continue
            for failure in response.get("Failed", []):
                logger.warning("SQS rejected an entry", extra={"code": failure.get("Code")})
                failed.append(int(failure["Id"]))
        return sorted(failed)


class SqsVisibility:
    """Postpones messages of one queue (ChangeMessageVisibilityBatch, 10 a call).

    Best effort: a message whose visibility could not be changed comes back after the queue's own
    visibility timeout instead, which is only sooner.
    """

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def postpone(self, delays: Sequence[tuple[str, int]]) -> None:
        for start in range(0, len(delays), SQS_BATCH):
            entries = [
                {"Id": str(index), "ReceiptHandle": receipt, "VisibilityTimeout": seconds}
                for index, (receipt, seconds) in enumerate(delays[start : start + SQS_BATCH])
            ]
            try:
                response = self._sqs.change_message_visibility_batch(
                    QueueUrl=self._queue_url, Entries=entries
                )
            except Exception:
                logger.exception(
                    "SQS change_message_visibility_batch failed", extra={"entries": len(entries)}
                )
                continue
            for failure in response.get("Failed", []):
                logger.warning("SQS kept a message's visibility", extra={"code": failure.get("Code")})


class QueueDeadLetters:
    """DeadLetters bound to one dead-letter queue."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def dead_letter(self, body: str, reason: str) -> None:
        send_with_reason(self._sqs, self._queue_url, body, reason)


def send_with_reason(sqs: Any, queue_url: str, body: str, reason: str) -> None:
    """Park a message with its reason (the `failure_reason` attribute that `cio-sync dlq list` shows)."""
    request: dict[str, Any] = {
        "QueueUrl": queue_url,
        "MessageBody": body,
        "MessageAttributes": {FAILURE_REASON_ATTRIBUTE: {"DataType": "String", "StringValue": reason[:1000]}},
    }
    if queue_url.endswith(".fifo"):
        request["MessageGroupId"] = "dead-letters"
        request["MessageDeduplicationId"] = hashlib.sha256(f"{body}\n{reason}".encode()).hexdigest()
    sqs.send_message(**request)


def batches(
    entries: Sequence[dict[str, Any]], *, max_bytes: int = SQS_BATCH_BYTES, one_per_group: bool = False
) -> list[list[dict[str, Any]]]:
    """Consecutive groups of at most 10 entries and `max_bytes` of bodies, order kept (FIFO).

    `one_per_group`: no two entries of a message group share a batch, so resending the entries SQS did not
    take can never put one behind a later message of its own group.
    """
    grouped: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    groups: set[str] = set()
    size = 0
    for entry in entries:
        entry_size = len(entry["MessageBody"].encode())
        group = entry.get("MessageGroupId")
        same_group = one_per_group and group in groups
        if current and (len(current) == SQS_BATCH or size + entry_size > max_bytes or same_group):
            grouped.append(current)
            current, groups, size = [], set(), 0
        current.append(entry)
        if group is not None:
            groups.add(group)
        size += entry_size
    if current:
        grouped.append(current)
    return grouped


class SqsChunkQueue:
    """Sends import chunks to the FIFO queue in batches, in order, retrying entries SQS did not take."""

    def __init__(self, client: Any, queue_url: str, sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self._queue_url = queue_url
        self._sleep = sleep

    def send(self, messages: Sequence[ChunkMessage]) -> None:
        entries = [
            {
                "Id": str(message.chunk),
                "MessageBody": message.to_json(),
                "MessageGroupId": message.group_id,
                "MessageDeduplicationId": message.deduplication_id,
            }
            for message in messages
        ]
        for batch in batches(entries, max_bytes=CHUNK_BATCH_BYTES, one_per_group=True):
            self._send_batch(batch)

    def _send_batch(self, entries: list[dict[str, Any]]) -> None:
        pending = entries
        for attempt in range(CHUNK_SEND_ATTEMPTS):
            response = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=pending)
            failed = {str(failure["Id"]) for failure in response.get("Failed", [])}
            if not failed:
                return
            pending = [entry for entry in pending if entry["Id"] in failed]
            self._sleep(0.2 * 2**attempt)
        raise RuntimeError(
            f"SQS refused {len(pending)} chunk message(s) after {CHUNK_SEND_ATTEMPTS} attempts"
        )


def _required(value: str | None, name: str) -> str:
    if not value:
        raise RuntimeError(f"{name} is not configured")
    return value
