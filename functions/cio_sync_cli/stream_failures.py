"""What `stream-failures` entries point at, resolved to the members a repair must sync.

Two kinds of entry arrive on the stream's failure queue:
- parked by the member-stream function (`SqsQueues.record_stream_failure`): one record it could not
  handle, with its table key as `member_id` (a member id as it is; any other key as a short hash), the
  record's `sequenceNumber`, `eventSourceARN` and the reason;
- written by Lambda itself, the stream mapping's on-failure destination, for a batch that ran out of retries
  or record age: no keys at all, only `DDBStreamBatchInfo` (`streamArn`, `shardId`, `startSequenceNumber`,
  `endSequenceNumber`, `batchSize`). The members are found by reading that range of the shard again, which
  works while the stream still holds it (24 hours); after that the range cannot be resolved, and the
  answer is a full `cio-sync reconcile`.

Nothing here shows an image or a key that is not a member id.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from cio_sync.aws_limits import SQS_BATCH
from cio_sync.members.contract import is_member_id

RANGE_PAGE: Final = 1000
MAX_RANGE_READS: Final = 10_000  # get_records calls per range: a safety stop, far above a batch's size
MAX_EMPTY_READS: Final = 5  # a shard may answer a few empty pages before the next records
RECEIVE_VISIBILITY_S: Final = 300  # entries stay hidden while a repair runs, then come back unless deleted


@dataclass(frozen=True)
class StreamRange:
    stream_arn: str
    shard_id: str
    start: str
    end: str
    size: int | None

    def describe(self) -> str:
        size = f", {self.size} records" if self.size is not None else ""
        return f"shard {self.shard_id[-40:]} sequence {self.start} to {self.end}{size}"


@dataclass
class FailureEntry:
    """One entry of the queue: the members it names, or why it names none."""

    message_id: str
    receipt_handle: str
    member_ids: list[str] = field(default_factory=list)
    stream_range: StreamRange | None = None
    unresolved: str | None = None  # why no member can be named (never a key's value)

    @property
    def resolved(self) -> bool:
        return self.unresolved is None and self.stream_range is None


def parse_entry(message_id: str, receipt_handle: str, body: str) -> FailureEntry:
    entry = FailureEntry(message_id, receipt_handle)
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        entry.unresolved = "not a stream failure record"
        return entry
    batch = data.get("DDBStreamBatchInfo")
    if isinstance(batch, dict):
        stream_range = _range(batch)
        if stream_range is None:
            entry.unresolved = "Lambda's failure record names no complete shard range"
        entry.stream_range = stream_range
        return entry
    if "sequenceNumber" in data or "member_id" in data:
        key = data.get("member_id")
        if is_member_id(key):
            entry.member_ids = [str(key)]
        elif key is None:
            entry.unresolved = "the parked record had no readable key"
        else:
            entry.unresolved = "the parked record's key is not a member id (a writer keyed it otherwise)"
        return entry
    entry.unresolved = "not a stream failure record"
    return entry


def _range(batch: dict[str, Any]) -> StreamRange | None:
    values = [
        batch.get(name) for name in ("streamArn", "shardId", "startSequenceNumber", "endSequenceNumber")
    ]
    if not all(isinstance(value, str) and value for value in values):
        return None
    size = batch.get("batchSize")
    stream_arn, shard_id, start, end = (str(value) for value in values)
    return StreamRange(stream_arn, shard_id, start, end, size if isinstance(size, int) else None)


class StreamRangeReader:
    """Reads a shard's records from one sequence number to another again (`dynamodbstreams` client).

    None when the stream no longer holds them (trimmed after 24 hours, a closed and deleted shard, a
    stream that was replaced): the range cannot be resolved.
    """

    def __init__(self, streams: Any, *, page: int = RANGE_PAGE, max_reads: int = MAX_RANGE_READS) -> None:
        self._streams = streams
        self._page = page
        self._max_reads = max_reads

    def member_ids(self, stream_range: StreamRange) -> list[str] | None:
        """The member ids of every record from `start` to `end`; None unless the whole range was read."""
        try:
            return members_in_range(
                self._records(stream_range), int(stream_range.start), int(stream_range.end)
            )
        except (ClientError, BotoCoreError, ValueError):
            return None

    def _records(self, stream_range: StreamRange) -> Iterator[Mapping[str, Any]]:
        """The shard's records from the range's start on, until the shard ends or keeps answering nothing."""
        iterator = self._streams.get_shard_iterator(
            StreamArn=stream_range.stream_arn,
            ShardId=stream_range.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=stream_range.start,
        ).get("ShardIterator")
        empty_reads = 0
        for _ in range(self._max_reads):
            if not iterator:
                return
            response = self._streams.get_records(ShardIterator=iterator, Limit=self._page)
            records = response.get("Records", [])
            empty_reads = 0 if records else empty_reads + 1
            if empty_reads >= MAX_EMPTY_READS:
                return
            yield from records
            iterator = response.get("NextShardIterator")


def members_in_range(records: Iterable[Mapping[str, Any]], start: int, end: int) -> list[str] | None:
    """Member ids of the records `start` to `end`; None when the first is missing (trimmed) or the last
    never came: a range read only in part cannot be vouched for."""
    found: dict[str, None] = {}
    started = False
    for record in records:
        change = record.get("dynamodb") or {}
        sequence = int(change.get("SequenceNumber", "0"))
        if sequence < start:
            continue
        if not started and sequence != start:
            return None
        started = True
        if sequence > end:
            return list(found)
        key = ((change.get("Keys") or {}).get("id") or {}).get("S")
        if is_member_id(key):
            found[str(key)] = None
        if sequence == end:
            return list(found)
    return None


@dataclass
class Resolution:
    """Which members the entries name, and what could not be resolved (one line per entry)."""

    entries: list[FailureEntry]
    member_ids: list[str]
    resolved: list[FailureEntry]
    unresolved: list[tuple[FailureEntry, str]]
    ranges_read: int = 0


def resolve(
    entries: Sequence[FailureEntry], read_range: Callable[[StreamRange], list[str] | None]
) -> Resolution:
    members: dict[str, None] = {}
    resolved: list[FailureEntry] = []
    unresolved: list[tuple[FailureEntry, str]] = []
    ranges = 0
    for entry in entries:
        if entry.unresolved is not None:
            unresolved.append((entry, entry.unresolved))
            continue
        if entry.stream_range is not None:
            ranges += 1
            found = read_range(entry.stream_range)
            if found is None:
                unresolved.append(
                    (
                        entry,
                        f"{entry.stream_range.describe()}: no longer in the stream (kept 24 hours); "
                        "run a full `cio-sync reconcile`",
                    )
                )
                continue
            entry.member_ids = found
        members.update(dict.fromkeys(entry.member_ids))
        resolved.append(entry)
    return Resolution(list(entries), list(members), resolved, unresolved, ranges)


class FailureQueue:
    """Takes every entry of the stream-failures queue (hidden while a repair runs); deletes the repaired."""

    def __init__(self, sqs: Any, url: str, *, wait_s: int = 1) -> None:
        self._sqs = sqs
        self._url = url
        self._wait_s = wait_s

    def receive_all(self, limit: int | None = None) -> list[FailureEntry]:
        entries: list[FailureEntry] = []
        seen: set[str] = set()
        while limit is None or len(entries) < limit:
            wanted = SQS_BATCH if limit is None else min(SQS_BATCH, limit - len(entries))
            messages = self._sqs.receive_message(
                QueueUrl=self._url,
                MaxNumberOfMessages=wanted,
                VisibilityTimeout=RECEIVE_VISIBILITY_S,
                WaitTimeSeconds=self._wait_s,
            ).get("Messages", [])
            fresh = [message for message in messages if message["MessageId"] not in seen]
            if not fresh:
                break
            for message in fresh:
                seen.add(message["MessageId"])
                entries.append(
                    parse_entry(message["MessageId"], message["ReceiptHandle"], message.get("Body", ""))
                )
        return entries

    def delete(self, entries: Sequence[FailureEntry]) -> None:
        for start in range(0, len(entries), SQS_BATCH):
            chunk = entries[start : start + SQS_BATCH]
            self._sqs.delete_message_batch(
                QueueUrl=self._url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": e.receipt_handle} for index, e in enumerate(chunk)
                ],
            )

    def release(self, entries: Sequence[FailureEntry]) -> None:
        """Visible again at once: what was not repaired stays for the next look (and keeps its alarm)."""
        for start in range(0, len(entries), SQS_BATCH):
            chunk = entries[start : start + SQS_BATCH]
            self._sqs.change_message_visibility_batch(
                QueueUrl=self._url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": e.receipt_handle, "VisibilityTimeout": 0}
                    for index, e in enumerate(chunk)
                ],
            )
