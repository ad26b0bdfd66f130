"""The pump: plays Lambda's event source mappings against moto server, invoking the real handlers in-process.

moto never runs Lambda code for event source mappings without Docker, so this does what the Lambda
service does, as template.yaml configures it:

* DynamoDB stream -> `get_records` -> the handler, with the stream record shape Lambda delivers. Partial
  batch responses checkpoint before the lowest reported sequence number and retry from it; function
  errors retry the batch (bisected when BisectBatchOnFunctionError); after MaximumRetryAttempts, or past
  MaximumRecordAgeInSeconds, the batch is described to the on-failure destination and skipped. moto writes
  a MODIFY record for a PutItem that changes nothing; DynamoDB does not, so such records are dropped.
* SQS -> `receive_message` with the mapping's batch size -> the handler -> every message not reported in
  `batchItemFailures` is deleted; failed ones wait out their visibility timeout, and moto moves a message
  to its dead-letter queue on the receive after maxReceiveCount. FIFO group order is moto's (a group with
  a message in flight delivers nothing else), with its redelivery order fixed in `moto_server`.

One Python process stands in for every execution environment, and Powertools' Logger, Metrics and batch
processors are process-wide objects, so invocations are serialised: one handler runs at a time (polling
still overlaps), and ScalingConfig.MaximumConcurrency is in effect 1. A handler that runs past its
Timeout cannot be stopped in-process; its result is discarded and the batch fails, as on Lambda.
Faults (`Faults`) let tests add what AWS may do: a crash after the handler ran, and a duplicate delivery.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import random
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cio_sync_local.provision import aws_client
from cio_sync_local.template import FunctionSpec, MappingSpec, QueueSpec, StackDescription

log = logging.getLogger("cio_sync_local.pump")

Handler = Callable[[dict[str, Any], Any], Any]

# One execution environment at a time in this process (see the module docstring).
_INVOCATION_LOCK = threading.Lock()
SQS_RECEIVE_MAX = 10
IDLE_SLEEP_MIN_S = 0.02
IDLE_SLEEP_MAX_S = 0.5
STREAM_RETRY_DELAY_S = 0.1
STREAM_RETRY_DELAY_MAX_S = 2.0


class FunctionTimeout(Exception):
    """The handler ran past the function's Timeout: Lambda would have stopped it and failed the batch."""


class InjectedCrash(Exception):
    """A fault: the handler ran, then the execution environment died before answering."""


@dataclass(frozen=True)
class Faults:
    """What the pump may do wrong on purpose, as AWS may: chances per invocation / per message, seeded.

    crash_after_call: the handler ran (its side effects happened) but its answer is lost, as when an
        execution environment dies; the batch counts as failed and is delivered again.
    duplicate_delivery: a record handled successfully is delivered once more (SQS: made visible again
        instead of deleted; streams: the batch is replayed), as at-least-once delivery allows.
    functions: limit the faults to these function logical ids (None = every function).
    """

    crash_after_call: float = 0.0
    duplicate_delivery: float = 0.0
    seed: int | None = None
    functions: frozenset[str] | None = None

    def applies_to(self, function: str) -> bool:
        return self.functions is None or function in self.functions


class LambdaContext:
    """The parts of Lambda's Python context object that handlers and Powertools read."""

    def __init__(self, function: FunctionSpec, region: str) -> None:
        self.function_name = function.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function.arn
        self.memory_limit_in_mb = str(function.memory_mb)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.name}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self.region = region
        self._deadline = time.monotonic() + function.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def resolve_handler(dotted: str) -> Handler:
    """`package.module.function` -> the function, imported as the Lambda runtime would."""
    module_name, _, attribute = dotted.rpartition(".")
    if not module_name:
        raise ValueError(f"handler {dotted!r} is not module.function")
    handler: Handler = getattr(importlib.import_module(module_name), attribute)
    return handler


@dataclass
class InvocationResult:
    response: Any = None
    error: BaseException | None = None


# ---- event shapes ---------------------------------------------------------------------------------------


def _wire_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB attribute value as JSON carries it: binary as base64 text, containers recursively."""
    ((kind, content),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(bytes(content)).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(bytes(item)).decode() for item in content]}
    if kind == "M":
        return {"M": {name: _wire_attribute(item) for name, item in content.items()}}
    if kind == "L":
        return {"L": [_wire_attribute(item) for item in content]}
    return {kind: content}


def _wire_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _wire_attribute(value) for name, value in item.items()}


def _epoch_seconds(value: Any) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp())
    return int(float(value))


def stream_record(raw: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A `get_records` record (as boto3 parses it) -> the record Lambda puts in a DynamoDB stream event."""
    source = raw["dynamodb"]
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": _epoch_seconds(source["ApproximateCreationDateTime"])
    }
    dynamodb["Keys"] = _wire_item(source["Keys"])
    for image in ("NewImage", "OldImage"):
        if image in source:
            dynamodb[image] = _wire_item(source[image])
    dynamodb["SequenceNumber"] = source["SequenceNumber"]
    dynamodb["SizeBytes"] = source["SizeBytes"]
    dynamodb["StreamViewType"] = source["StreamViewType"]
    record: dict[str, Any] = {
        "eventID": raw["eventID"],
        "eventName": raw["eventName"],
        "eventVersion": raw.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": raw.get("awsRegion", region),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in raw:
        record["userIdentity"] = {
            "type": raw["userIdentity"]["Type"],
            "principalId": raw["userIdentity"]["PrincipalId"],
        }
    return record


def _lambda_message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(bytes(value["BinaryValue"])).decode()
    attribute["stringListValues"] = list(value.get("StringListValues", []))
    attribute["binaryListValues"] = [
        base64.b64encode(bytes(item)).decode() for item in value.get("BinaryListValues", [])
    ]
    attribute["dataType"] = value["DataType"]
    return attribute


_SQS_SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)


def sqs_record(message: Mapping[str, Any], queue: QueueSpec, region: str) -> dict[str, Any]:
    """A `receive_message` message -> the record Lambda puts in an SQS event."""
    received = message.get("Attributes", {})
    attributes = {name: received[name] for name in _SQS_SYSTEM_ATTRIBUTES if name in received}
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": {
            name: _lambda_message_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update({"eventSource": "aws:sqs", "eventSourceARN": queue.arn, "awsRegion": region})
    return record


def failed_identifiers(response: Any, identifiers: Sequence[str]) -> list[str] | None:
    """The identifiers a partial batch response reports, or None when Lambda would fail the whole batch.

    Per Lambda: a null/empty response or list is complete success; an entry that is malformed, empty or
    names an identifier not in the batch fails the whole batch.
    """
    if response is None:
        return []
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures")
    if failures is None:
        return []
    if not isinstance(failures, list):
        return None
    known = set(identifiers)
    reported: list[str] = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in known:
            return None
        reported.append(identifier)
    return reported


# ---- pollers --------------------------------------------------------------------------------------------


class _Poller(ABC):
    """One event source mapping: `poll_once()` does one receive -> invoke -> acknowledge round."""

    def __init__(self, pump: Pump, mapping: MappingSpec) -> None:
        self.pump = pump
        self.mapping = mapping
        self.function = pump.description.functions[mapping.function]
        self.polls = 0
        self.records_delivered = 0
        self.invocations = 0
        self.failed_invocations = 0

    @property
    def label(self) -> str:
        return f"{self.mapping.function}/{self.mapping.name}"

    @property
    def pending(self) -> str | None:
        """Why this poller is not idle between polls (records held for a retry or a batching window)."""
        return None

    @abstractmethod
    def poll_once(self) -> int:
        """Poll the source once and invoke the function if there is work; return the records delivered."""

    def invoke(self, event: dict[str, Any]) -> InvocationResult:
        result = self.pump.invoke(self.function, event)
        self.invocations += 1
        self.records_delivered += len(event["Records"])
        self.failed_invocations += result.error is not None
        return result


class SqsPoller(_Poller):
    def __init__(self, pump: Pump, mapping: MappingSpec) -> None:
        super().__init__(pump, mapping)
        self.queue = pump.description.queues[mapping.source]
        self.sqs = aws_client("sqs", pump.description.context)

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
                window_ends = time.monotonic() + self.mapping.batching_window_s
            batch.extend(received)
            remaining = window_ends - time.monotonic()
            if remaining <= 0:
                break
            if not received:
                time.sleep(min(0.05, remaining))
        return batch

    def poll_once(self) -> int:
        messages = self._receive_batch()
        if not messages:
            return 0
        records = [
            sqs_record(message, self.queue, self.pump.description.context.region) for message in messages
        ]
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
        return first_delivery and self.pump.roll_duplicate(self.function.logical_id)

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


class StreamPoller(_Poller):
    def __init__(self, pump: Pump, mapping: MappingSpec, stream_arn: str) -> None:
        super().__init__(pump, mapping)
        self.stream_arn = stream_arn
        self.streams = aws_client("dynamodbstreams", pump.description.context)
        self.sqs = aws_client("sqs", pump.description.context)
        self.shards: dict[str, _Shard] = {}
        self.noop_records_dropped = 0
        self.batches_discarded = 0

    @property
    def pending(self) -> str | None:
        for shard in self.shards.values():
            if shard.buffer:
                return f"{self.label} holds {len(shard.buffer)} stream records ({shard.shard_id})"
        return None

    def _refresh_shards(self) -> None:
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
            region = self.pump.description.context.region
            for raw in records:
                record = stream_record(raw, self.stream_arn, region)
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
        window_open = (
            shard.buffered_since is not None and now - shard.buffered_since < self.mapping.batching_window_s
        )
        if len(shard.buffer) < self.mapping.batch_size and window_open and shard.attempts == 0:
            return fetched
        self._discard_expired(shard)
        if shard.buffer:
            self._deliver(shard)
        return max(fetched, 1)

    def _discard_expired(self, shard: _Shard) -> None:
        if self.mapping.maximum_record_age_s < 0:
            return
        oldest_allowed = time.time() - self.mapping.maximum_record_age_s
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
            if first not in shard.replayed and self.pump.roll_duplicate(self.function.logical_id):
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
        shard.retry_at = time.monotonic() + min(
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
        if self.mapping.on_failure is not None:
            destination = self.pump.description.queues[self.mapping.on_failure]
            response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
            if function_error:
                response_context["functionError"] = "Unhandled"
            first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
            message = {
                "requestContext": {
                    "requestId": str(uuid.uuid4()),
                    "functionArn": self.function.arn,
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


# ---- the pump -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdleReport:
    idle: bool
    reasons: tuple[str, ...]  # why not idle, for a one-line message


class Pump:
    """Runs one poller thread per enabled event source mapping; `wait_idle()` answers `drain`."""

    def __init__(
        self,
        description: StackDescription,
        stream_arns: Mapping[str, str],
        handlers: Mapping[str, Handler] | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.description = description
        self.faults = faults or Faults()
        self._random = random.Random(self.faults.seed)  # noqa: S311 - fault injection, not cryptography
        self._handler_overrides = dict(handlers or {})
        self._handlers: dict[str, Handler] = {}
        self.pollers: list[_Poller] = []
        for mapping in description.mappings:
            if not mapping.enabled:
                continue
            if mapping.kind == "dynamodb":
                self.pollers.append(StreamPoller(self, mapping, stream_arns[mapping.source]))
            else:
                self.pollers.append(SqsPoller(self, mapping))
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._progress = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._eager_until = 0.0  # while someone waits for idleness, poll without backing off
        self._waiters = 0
        self._sqs = aws_client("sqs", description.context)
        self.activity = 0
        self.errors = 0
        self._held: set[str] = set()

    # -- invocation

    def handler_for(self, function: FunctionSpec) -> Handler:
        if function.logical_id not in self._handlers:
            override = self._handler_overrides.get(function.logical_id)
            self._handlers[function.logical_id] = override or resolve_handler(function.handler)
        return self._handlers[function.logical_id]

    def invoke(self, function: FunctionSpec, event: dict[str, Any]) -> InvocationResult:
        """Call the handler as Lambda would: a JSON round-tripped event, a context with the Timeout."""
        payload = json.loads(json.dumps(event))
        with _INVOCATION_LOCK:
            context = LambdaContext(function, self.description.context.region)
            started = time.monotonic()
            result = InvocationResult()
            try:  # an import error is the invocation's failure, as Runtime.ImportModuleError is on Lambda
                handler = self.handler_for(function)
                result.response = json.loads(json.dumps(handler(payload, context)))
            except Exception as error:  # the handler's failure is data here, as it is to Lambda
                log.warning(
                    "%s failed: %s: %s", function.logical_id, type(error).__name__, error, exc_info=True
                )
                result.error = error
            elapsed = time.monotonic() - started
        if result.error is None and elapsed > function.timeout_s:
            result.error = FunctionTimeout(
                f"{function.logical_id} ran {elapsed:.1f} s, over its {function.timeout_s} s"
            )
        if result.error is None and self._roll(self.faults.crash_after_call, function.logical_id):
            result.error = InjectedCrash(f"{function.logical_id} crashed after the call (injected)")
        return result

    def _roll(self, chance: float, function: str) -> bool:
        return chance > 0 and self.faults.applies_to(function) and self._random.random() < chance

    def roll_duplicate(self, function: str) -> bool:
        return self._roll(self.faults.duplicate_delivery, function)

    # -- running

    def run_once(self) -> int:
        """One poll of every mapping, in this thread (for tests that want to step the pump)."""
        work = 0
        for poller in self.pollers:
            work += self._poll(poller)
        return work

    @contextmanager
    def hold(self, function: str) -> Iterator[None]:
        """While held, the function's mappings do not poll: as if it had not run yet (a backlog).

        Lets a test land several writes before the stream is read, deterministically.
        """
        with self._progress:
            self._held.add(function)
        try:
            yield
        finally:
            with self._progress:
                self._held.discard(function)
            self.wake()

    def _poll(self, poller: _Poller) -> int:
        if poller.mapping.function in self._held:
            return 0
        try:
            work = poller.poll_once()
        except Exception:
            if self._stop.is_set():
                return 0
            self.errors += 1
            log.exception("%s: polling failed", poller.label)
            work = 0
        with self._progress:
            poller.polls += 1
            if work:
                self.activity += 1
            self._progress.notify_all()
        return work

    def start(self) -> Pump:
        for poller in self.pollers:
            thread = threading.Thread(
                target=self._loop, args=(poller,), name=f"pump-{poller.label}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def _loop(self, poller: _Poller) -> None:
        sleep = IDLE_SLEEP_MIN_S
        while not self._stop.is_set():
            work = self._poll(poller)
            if work:
                sleep = IDLE_SLEEP_MIN_S
                continue
            if time.monotonic() < self._eager_until:
                sleep = IDLE_SLEEP_MIN_S
            with self._wake:
                self._wake.wait(sleep)
            sleep = min(sleep * 2, IDLE_SLEEP_MAX_S)

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def stop(self) -> None:
        self._stop.set()
        self.wake()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()

    # -- idleness

    def _polls_since(self, counts: Mapping[int, int], enough: int) -> bool:
        return all(poller.polls >= counts[id(poller)] + enough for poller in self.pollers)

    def idle_report(self, timeout: float) -> IdleReport:
        """Is the pipeline idle? Every mapping has polled twice since this call (so one whole poll began
        after it) and found nothing, nothing is held for a retry or a batching window, and every source
        queue is empty with nothing in flight or delayed."""
        deadline = time.monotonic() + timeout
        with self._progress:
            self._waiters += 1
            self._eager_until = max(self._eager_until, deadline)
            counts = {id(poller): poller.polls for poller in self.pollers}
            activity = self.activity
        try:
            return self._check_idle(counts, activity, deadline)
        finally:
            with self._progress:
                self._waiters -= 1
                if not self._waiters:
                    self._eager_until = 0.0

    def _check_idle(self, counts: Mapping[int, int], activity: int, deadline: float) -> IdleReport:
        self.wake()
        reasons: list[str] = []
        if self._threads:
            with self._progress:
                while not self._polls_since(counts, 2):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        # Not a verdict on its own: the queues below still say what is busy.
                        reasons.append("the pump did not finish a round of polls in time")
                        break
                    self._progress.wait(min(remaining, 0.2))
            if self.activity != activity:
                reasons.append("records were delivered during the check")
        elif self.run_once():
            reasons.append("records were delivered during the check")
        reasons.extend(reason for poller in self.pollers if (reason := poller.pending))
        reasons.extend(self._queue_reasons())
        return IdleReport(not reasons, tuple(reasons))

    def _queue_reasons(self) -> list[str]:
        reasons: list[str] = []
        sources = {
            mapping.source
            for mapping in self.description.mappings
            if mapping.kind == "sqs" and mapping.enabled
        }
        for logical_id in sorted(sources):
            queue = self.description.queues[logical_id]
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=queue.url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            visible = int(attributes["ApproximateNumberOfMessages"])
            in_flight = int(attributes["ApproximateNumberOfMessagesNotVisible"])
            delayed = int(attributes["ApproximateNumberOfMessagesDelayed"])
            if visible or in_flight or delayed:
                reasons.append(f"{logical_id}: {visible} waiting, {in_flight} in flight, {delayed} delayed")
        return reasons

    def wait_idle(self, timeout: float) -> IdleReport:
        """Block until idle or until `timeout` seconds pass; returns the last report (reasons say why not).

        Checks back off (up to half a second apart) while the pipeline stays busy, so a long drain does not
        keep moto server spinning.
        """
        deadline = time.monotonic() + timeout
        report = IdleReport(False, ("not checked",))
        pause = IDLE_SLEEP_MIN_S
        with self._progress:
            self._waiters += 1  # keeps the pollers eager between checks
            self._eager_until = max(self._eager_until, deadline)
        try:
            last_check_s = 0.0
            while True:
                remaining = deadline - time.monotonic()
                # A check that cannot finish in the time left would only hide the last full report.
                if remaining <= 0 or (report.reasons != ("not checked",) and remaining < last_check_s):
                    return report
                started = time.monotonic()
                report = self.idle_report(remaining)
                last_check_s = time.monotonic() - started
                if report.idle:
                    return report
                with self._wake:
                    self._wake.wait(min(pause, max(deadline - time.monotonic(), 0)))
                pause = min(pause * 2, IDLE_SLEEP_MAX_S)
        finally:
            with self._progress:
                self._waiters -= 1
                if not self._waiters:
                    self._eager_until = 0.0

    def stats(self) -> dict[str, Any]:
        return {
            poller.label: {
                "polls": poller.polls,
                "invocations": poller.invocations,
                "failed_invocations": poller.failed_invocations,
                "records": poller.records_delivered,
                **(
                    {
                        "noop_records_dropped": poller.noop_records_dropped,
                        "batches_discarded": poller.batches_discarded,
                    }
                    if isinstance(poller, StreamPoller)
                    else {}
                ),
            }
            for poller in self.pollers
        }
