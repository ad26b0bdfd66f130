"""A DynamoDB stream event source mapping, as Lambda plays it.

`get_records` -> the function, with the stream record shape Lambda delivers. Partial batch responses
checkpoint before the lowest reported sequence number and retry from it; function errors retry the batch
(bisected when BisectBatchOnFunctionError); after MaximumRetryAttempts, or past MaximumRecordAgeInSeconds,
the batch is described to the on-failure destination and skipped. moto writes a MODIFY record for a PutItem
that changes nothing; DynamoDB does not, so such records are dropped. Shards are read one after another,
one batch in flight per shard (moto keeps one shard per stream).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cio_sync_local.delivery import Delivery
from cio_sync_local.description import MappingSpec, QueueSpec
from cio_sync_local.events import failed_identifiers, stream_record
from cio_sync_local.invoker import InvocationResult
from cio_sync_local.poller import Poller

log = logging.getLogger("cio_sync_local.pump")

STREAM_RETRY_DELAY_S = 0.1
STREAM_RETRY_DELAY_MAX_S = 2.0
SHARD_REFRESH_S = 5.0


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None = None
    checkpoint: str | None = None  # sequence number of the last record done with
    buffer: list[dict[str, Any]] = field(default_factory=list)  # fetched, not yet done with (Lambda form)
    buffered_since: float | None = None
    attempts: int = 0
    batch_limit: int = 0
    retry_at: float = 0.0
    closed: bool = False
    replayed: set[str] = field(default_factory=set)


class StreamPoller(Poller):
    def __init__(
        self,
        mapping: MappingSpec,
        delivery: Delivery,
        *,
        function_arn: str,
        streams: Any,
        sqs: Any,
        destination: QueueSpec | None,
        region: str,
        time_scale: float = 1.0,
    ) -> None:
        super().__init__(mapping, delivery)
        self.stream_arn = mapping.source_arn
        self.function_arn = function_arn
        self.streams = streams
        self.sqs = sqs
        self.destination = destination
        self.region = region
        self.time_scale = time_scale
        self.batching_window_s = mapping.batching_window_s * time_scale
        self.maximum_record_age_s = (
            mapping.maximum_record_age_s * time_scale if mapping.maximum_record_age_s >= 0 else -1.0
        )
        self.shards: dict[str, _Shard] = {}
        self._shards_checked = 0.0
        self.noop_records_dropped = 0
        self.batches_discarded = 0

    def extra_stats(self) -> dict[str, int]:
        return {
            "noop_records_dropped": self.noop_records_dropped,
            "batches_discarded": self.batches_discarded,
        }

    @property
    def pending(self) -> str | None:
        for shard in self.shards.values():
            if shard.buffer:
                return f"{self.label} holds {len(shard.buffer)} stream records ({shard.shard_id})"
        return None

    def _refresh_shards(self) -> None:
        """Look for new shards now and then, as Lambda does (moto keeps one shard per stream)."""
        now = time.monotonic()
        if self.shards and now < self._shards_checked + SHARD_REFRESH_S:
            return
        self._shards_checked = now
        description = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            if shard["ShardId"] not in self.shards:
                self.shards[shard["ShardId"]] = _Shard(shard["ShardId"], batch_limit=self.mapping.batch_size)

    def poll_once(self) -> int:
        self._refresh_shards()
        return sum(
            self._poll_shard(shard) for shard in self.shards.values() if shard.buffer or not shard.closed
        )

    def _iterator(self, shard: _Shard) -> str:
        if shard.iterator is None:
            request: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard.shard_id}
            if shard.checkpoint is not None:
                request.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=shard.checkpoint)
            else:
                request["ShardIteratorType"] = self.mapping.starting_position or "TRIM_HORIZON"
            shard.iterator = self.streams.get_shard_iterator(**request)["ShardIterator"]
        return shard.iterator

    def _fill(self, shard: _Shard) -> int:
        """Top the shard's buffer up from its iterator; after a read error, restart from the checkpoint."""
        try:
            return self._read(shard)
        except Exception:
            shard.iterator = None
            shard.buffer.clear()
            shard.buffered_since = None
            raise

    def _read(self, shard: _Shard) -> int:
        fetched = 0
        while len(shard.buffer) < self.mapping.batch_size and not shard.closed:
            response = self.streams.get_records(
                ShardIterator=self._iterator(shard), Limit=self.mapping.batch_size - len(shard.buffer)
            )
            shard.iterator = response.get("NextShardIterator")
            if shard.iterator is None:
                shard.closed = True
            records = response.get("Records", [])
            if not records:
                break
            fetched += len(records)
            for raw in records:
                record = stream_record(raw, self.stream_arn, self.region)
                if _changes_nothing(record):
                    self.noop_records_dropped += 1
                    if not shard.buffer:
                        shard.checkpoint = record["dynamodb"]["SequenceNumber"]
                    continue
                shard.buffer.append(record)
        if shard.buffer and shard.buffered_since is None:
            shard.buffered_since = time.monotonic()
        return fetched

    def _poll_shard(self, shard: _Shard) -> int:
        fetched = self._fill(shard)
        if not shard.buffer:
            return fetched
        now = time.monotonic()
        if now < shard.retry_at:
            return fetched
        window_open = shard.buffered_since is not None and now - shard.buffered_since < self.batching_window_s
        if len(shard.buffer) < self.mapping.batch_size and window_open and shard.attempts == 0:
            return fetched
        self._discard_expired(shard)
        if shard.buffer:
            self._deliver(shard)
        return max(fetched, 1)

    def _discard_expired(self, shard: _Shard) -> None:
        if self.maximum_record_age_s < 0:
            return
        oldest_allowed = time.time() - self.maximum_record_age_s
        expired = 0
        while (
            expired < len(shard.buffer)
            and shard.buffer[expired]["dynamodb"]["ApproximateCreationDateTime"] < oldest_allowed
        ):
            expired += 1
        if expired:
            self._give_up(shard, shard.buffer[:expired], "RecordAgeExceeded", function_error=False)

    def _deliver(self, shard: _Shard) -> None:
        batch = shard.buffer[: shard.batch_limit]
        result = self.invoke({"Records": batch})
        failed_from = self._failed_position(result, batch)
        if failed_from is None:
            first = batch[0]["dynamodb"]["SequenceNumber"]
            if first not in shard.replayed and self.delivery.duplicate(len(batch)):
                shard.replayed.add(first)
                return
            self._done(shard, len(batch))
            return
        if failed_from > 0:
            self._done(shard, failed_from)
        shard.attempts += 1
        if result.error is not None and self.mapping.bisect_on_error and len(batch) > 1:
            shard.batch_limit = max(1, len(batch) // 2)
        retries = self.mapping.maximum_retry_attempts
        if retries >= 0 and shard.attempts > retries:
            self._give_up(
                shard, batch[failed_from:], "RetryAttemptsExhausted", function_error=result.error is not None
            )
            return
        shard.retry_at = time.monotonic() + self.time_scale * min(
            STREAM_RETRY_DELAY_S * 2 ** (shard.attempts - 1), STREAM_RETRY_DELAY_MAX_S
        )

    def _failed_position(self, result: InvocationResult, batch: Sequence[Mapping[str, Any]]) -> int | None:
        """Index of the first record to retry, or None when the whole batch succeeded."""
        if result.error is not None:
            return 0
        if not self.mapping.report_batch_item_failures:
            return None
        sequence_numbers = [record["dynamodb"]["SequenceNumber"] for record in batch]
        reported = failed_identifiers(result.response, sequence_numbers)
        if reported is None:
            log.warning("%s returned an invalid partial batch response; the whole batch fails", self.label)
            return 0
        if not reported:
            return None
        return min(sequence_numbers.index(identifier) for identifier in reported)

    def _done(self, shard: _Shard, count: int) -> None:
        shard.checkpoint = shard.buffer[count - 1]["dynamodb"]["SequenceNumber"]
        del shard.buffer[:count]
        shard.attempts = 0
        shard.batch_limit = self.mapping.batch_size
        shard.retry_at = 0.0
        shard.buffered_since = time.monotonic() if shard.buffer else None

    def _give_up(
        self, shard: _Shard, records: Sequence[Mapping[str, Any]], condition: str, *, function_error: bool
    ) -> None:
        """Describe the skipped records to the on-failure destination (as Lambda does); move past them."""
        self.batches_discarded += 1
        attempts = shard.attempts
        log.warning(
            "%s skips %d stream records (%s) after %d attempts", self.label, len(records), condition, attempts
        )
        destination = self.destination
        if destination is not None:
            response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
            if function_error:
                response_context["functionError"] = "Unhandled"
            first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
            message = {
                "requestContext": {
                    "requestId": str(uuid.uuid4()),
                    "functionArn": self.function_arn,
                    "condition": condition,
                    "approximateInvokeCount": max(attempts, 1),
                },
                "responseContext": response_context,
                "version": "1.0",
                "timestamp": _iso_now(),
                "DDBStreamBatchInfo": {
                    "shardId": shard.shard_id,
                    "startSequenceNumber": first["SequenceNumber"],
                    "endSequenceNumber": last["SequenceNumber"],
                    "approximateArrivalOfFirstRecord": _iso(first["ApproximateCreationDateTime"]),
                    "approximateArrivalOfLastRecord": _iso(last["ApproximateCreationDateTime"]),
                    "batchSize": len(records),
                    "streamArn": self.stream_arn,
                },
            }
            request: dict[str, Any] = {"QueueUrl": destination.url, "MessageBody": json.dumps(message)}
            if destination.fifo:
                request.update(MessageGroupId=shard.shard_id, MessageDeduplicationId=first["SequenceNumber"])
            self.sqs.send_message(**request)
        shard.checkpoint = records[-1]["dynamodb"]["SequenceNumber"]
        skipped = {record["dynamodb"]["SequenceNumber"] for record in records}
        shard.buffer = [
            record for record in shard.buffer if record["dynamodb"]["SequenceNumber"] not in skipped
        ]
        shard.attempts = 0
        shard.batch_limit = self.mapping.batch_size
        shard.retry_at = 0.0
        shard.buffered_since = time.monotonic() if shard.buffer else None


def _changes_nothing(record: Mapping[str, Any]) -> bool:
    dynamodb = record["dynamodb"]
    return bool(record["eventName"] == "MODIFY" and dynamodb.get("NewImage") == dynamodb.get("OldImage"))


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
