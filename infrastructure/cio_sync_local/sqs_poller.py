"""An SQS event source mapping, as Lambda plays it.

`receive_message` with the mapping's batch size (and batching window) -> the function -> every message
not reported in `batchItemFailures` is deleted; failed ones wait out their visibility timeout, and moto
moves a message to its dead-letter queue on the receive after maxReceiveCount. FIFO group order is
moto's (a group with a message in flight delivers nothing else), with its redelivery order fixed in
`moto_server`; a group stays with one invocation even past its visibility timeout (`lanes`). A mapping
runs several pollers at once, up to its MaximumConcurrency (see `pump`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from cio_sync_local.delivery import Delivery
from cio_sync_local.description import MappingSpec, QueueSpec
from cio_sync_local.events import failed_identifiers, sqs_record
from cio_sync_local.invoker import InvocationResult
from cio_sync_local.lanes import LaneLocks
from cio_sync_local.poller import Poller

log = logging.getLogger("cio_sync_local.pump")

SQS_RECEIVE_MAX = 10
WINDOW_POLL_S = 0.05


class SqsPoller(Poller):
    def __init__(
        self,
        mapping: MappingSpec,
        delivery: Delivery,
        *,
        queue: QueueSpec,
        sqs: Any,
        region: str,
        time_scale: float = 1.0,
        lanes: LaneLocks | None = None,
        claim_timeout_s: float = 900.0,
    ) -> None:
        super().__init__(mapping, delivery)
        self.queue = queue
        self.lanes = lanes  # shared by the mapping's pollers of a FIFO queue (see `lanes`)
        self.claim_timeout_s = claim_timeout_s
        self.sqs = sqs
        self.region = region
        self.batching_window_s = mapping.batching_window_s * time_scale
        self._holding = 0  # messages received and not yet acknowledged (or given back)

    @property
    def pending(self) -> str | None:
        # Covers a batch waiting for its message group (`lanes`): its messages may already be deleted by a
        # poller that received them before their visibility ended, and then live only here.
        return f"{self._holding} messages received, not yet acknowledged" if self._holding else None

    def _receive_batch(self) -> list[dict[str, Any]]:
        """One receive, or (with a batching window) receives until the batch is full or the window closes."""
        batch: list[dict[str, Any]] = []
        window_ends = 0.0
        while len(batch) < self.mapping.batch_size:
            response = self.sqs.receive_message(
                QueueUrl=self.queue.url,
                MaxNumberOfMessages=min(SQS_RECEIVE_MAX, self.mapping.batch_size - len(batch)),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            received = response.get("Messages", [])
            if not batch:
                if not received:
                    break
                window_ends = time.monotonic() + self.batching_window_s
            batch.extend(received)
            remaining = window_ends - time.monotonic()
            if remaining <= 0:
                break
            if not received:
                time.sleep(min(WINDOW_POLL_S, remaining))
        return batch

    def poll_once(self) -> int:
        messages = self._receive_batch()
        if not messages:
            return 0
        self._holding = len(messages)
        try:
            return self._run(messages)
        finally:
            self._holding = 0

    def _run(self, messages: Sequence[Mapping[str, Any]]) -> int:
        if self.lanes is None:
            return self._deliver(messages)
        groups = {str(m.get("Attributes", {}).get("MessageGroupId")) for m in messages}
        with self.lanes.claim(groups, self.claim_timeout_s) as claimed:
            if claimed:
                return self._deliver(messages)
        # Still held after a whole function timeout: give the messages back rather than run a lane twice.
        log.warning("%s gave back a batch whose message group stayed in another invocation", self.label)
        self._make_visible([sqs_record(message, self.queue.arn, self.region) for message in messages])
        return 0

    def _deliver(self, messages: Sequence[Mapping[str, Any]]) -> int:
        records = [sqs_record(message, self.queue.arn, self.region) for message in messages]
        result = self.invoke({"Records": records})
        failed = self._failed_message_ids(result, records)
        succeeded = [record for record in records if record["messageId"] not in failed]
        duplicated = [record for record in succeeded if self._duplicate(record)]
        self._make_visible(duplicated)
        self._delete([record for record in succeeded if record not in duplicated])
        return len(records)

    def _failed_message_ids(self, result: InvocationResult, records: Sequence[Mapping[str, Any]]) -> set[str]:
        everything = {record["messageId"] for record in records}
        if result.error is not None:
            return everything
        if not self.mapping.report_batch_item_failures:
            return set()
        reported = failed_identifiers(result.response, [record["messageId"] for record in records])
        if reported is None:
            log.warning("%s returned an invalid partial batch response; the whole batch fails", self.label)
            return everything
        return set(reported)

    def _duplicate(self, record: Mapping[str, Any]) -> bool:
        first_delivery = record["attributes"].get("ApproximateReceiveCount") == "1"
        return first_delivery and self.delivery.duplicate(1)

    def _delete(self, records: Sequence[Mapping[str, Any]]) -> None:
        for start in range(0, len(records), SQS_RECEIVE_MAX):
            chunk = records[start : start + SQS_RECEIVE_MAX]
            entries = [
                {"Id": str(index), "ReceiptHandle": record["receiptHandle"]}
                for index, record in enumerate(chunk)
            ]
            response = self.sqs.delete_message_batch(QueueUrl=self.queue.url, Entries=entries)
            for failure in response.get("Failed", []):
                log.warning("%s could not delete a message: %s", self.label, failure.get("Code"))

    def _make_visible(self, records: Sequence[Mapping[str, Any]]) -> None:
        for record in records:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue.url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
            )
