"""SQS events in, partial batch responses out: what Powertools' batch utility did for us, in 50 lines.

Why not Powertools' BatchProcessor: importing its package imports asyncio and every event data class
(+115 modules at every cold start), for a loop this short.
Same contract: each record is handled on its own; a failed record is reported in `batchItemFailures`;
when every record fails the invocation raises, so Lambda counts an error and retries the batch whole.
On a FIFO queue the records after a failure are returned unprocessed, keeping their group's order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cio_sync.observability import logger
from cio_sync.pipeline.messages import InboundMessage


class EveryRecordFailed(Exception):
    """No record of the batch succeeded: Lambda returns all of them to the queue (and counts an error)."""


def inbound_messages(event: Mapping[str, Any]) -> list[InboundMessage]:
    """The records of an SQS event, as the consumers see them."""
    messages = []
    for record in event.get("Records") or []:
        attributes = record.get("attributes") or {}
        messages.append(
            InboundMessage(
                message_id=record["messageId"],
                group_id=attributes.get("MessageGroupId") or "",
                body=record.get("body") or "",
                receive_count=int(attributes.get("ApproximateReceiveCount") or 1),
                receipt_handle=record.get("receiptHandle") or "",
            )
        )
    return messages


def partial_batch(
    messages: Sequence[InboundMessage], handle: Callable[[InboundMessage], object], *, fifo: bool = False
) -> dict[str, Any]:
    """Handle each message; the response names those that failed (by message id)."""
    failed: list[str] = []
    for message in messages:
        if fifo and failed:
            failed.append(message.message_id)
            continue
        try:
            handle(message)
        except Exception as error:
            # The error's type only: its text could echo a value (the consumers log their own reasons).
            logger.warning(
                "record failed; it returns to its queue",
                extra={"message_id": message.message_id, "error_type": type(error).__name__},
            )
            failed.append(message.message_id)
    return batch_response(messages, failed)


def batch_response(messages: Sequence[InboundMessage], failed: Sequence[str]) -> dict[str, Any]:
    """The partial batch response naming `failed` (message ids); raises when every record failed."""
    if messages and len(failed) == len(messages):
        raise EveryRecordFailed(f"all {len(messages)} records failed")
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
