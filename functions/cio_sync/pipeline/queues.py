"""SQS adapter: the only place the pipeline talks to queues (publish intents, park dead letters)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from cio_sync.members.contract import safe_key
from cio_sync.observability import logger
from cio_sync.pipeline.messages import TrackMessage
from cio_sync.sync.intents import SendEmail

SQS_BATCH = 10
# SQS caps a whole SendMessageBatch at 256 KiB, not only each message: leave room for attributes.
SQS_BATCH_BYTES = 240_000
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
        self._send_one(
            _required(self._stream_failure_url, "STREAM_FAILURE_QUEUE_URL"), json.dumps(pointer), reason
        )

    def dead_letter_to(self, queue_url: str, body: str, reason: str) -> None:
        self._send_one(queue_url, body, reason)

    def _send_one(self, queue_url: str, body: str, reason: str) -> None:
        request: dict[str, Any] = {
            "QueueUrl": queue_url,
            "MessageBody": body,
            "MessageAttributes": {
                FAILURE_REASON_ATTRIBUTE: {"DataType": "String", "StringValue": reason[:1000]}
            },
        }
        if queue_url.endswith(".fifo"):
            request["MessageGroupId"] = "dead-letters"
            request["MessageDeduplicationId"] = hashlib.sha256(f"{body}\n{reason}".encode()).hexdigest()
        self._sqs.send_message(**request)

    def _send_batches(self, queue_url: str, entries: Sequence[dict[str, Any]]) -> list[int]:
        failed: list[int] = []
        for chunk in _batches(entries):
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

    def __init__(self, queues: SqsQueues, queue_url: str) -> None:
        self._queues = queues
        self._queue_url = queue_url

    def dead_letter(self, body: str, reason: str) -> None:
        self._queues.dead_letter_to(self._queue_url, body, reason)


def _batches(entries: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Consecutive groups of at most 10 entries and SQS_BATCH_BYTES of bodies, order kept (FIFO)."""
    batches: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        entry_size = len(entry["MessageBody"].encode())
        if current and (len(current) == SQS_BATCH or size + entry_size > SQS_BATCH_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry_size
    if current:
        batches.append(current)
    return batches


def _required(value: str | None, name: str) -> str:
    if not value:
        raise RuntimeError(f"{name} is not configured")
    return value
