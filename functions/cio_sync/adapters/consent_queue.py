"""The consent queue (SQS FIFO): one reporting event per message, in its member's lane, deduplicated on
Customer.io's event id (a webhook Customer.io sends again within SQS's 5-minute window is dropped there)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cio_sync.customerio.reporting import ReportingEvent
from cio_sync.failures import TransientFailure

# What SQS allows in a deduplication id (at most 128 characters); anything else is hashed.
_DEDUPLICATION_ID = re.compile(r"[A-Za-z0-9!-/:-@\[-`{-~]{1,128}")


def deduplication_id(event_id: str) -> str:
    if _DEDUPLICATION_ID.fullmatch(event_id):
        return event_id
    return hashlib.sha256(event_id.encode()).hexdigest()


class SqsConsentQueue:
    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def put(self, event: ReportingEvent, group: str) -> None:
        try:
            self._sqs.send_message(
                QueueUrl=self._queue_url,
                MessageBody=event.to_message(),
                MessageGroupId=group,
                MessageDeduplicationId=deduplication_id(event.event_id),
            )
        except ClientError as error:
            raise TransientFailure(f"consent queue: {error.response.get('Error', {}).get('Code')}") from error
        except BotoCoreError as error:
            raise TransientFailure(f"consent queue: {type(error).__name__}") from error
