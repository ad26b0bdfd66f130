"""Plans an import: validates the whole file, then splits its rows into chunk messages, in constant memory.

The object is read twice (its bytes are pinned by version id or ETag, so both reads see the same file):
1. survey: validate everything and count rows per partition, so nothing is muted from a file that turns
   out to be broken at its last line, and the number of chunks is known before the first one is sent;
2. dispatch: route each valid row to its partition's buffer (a stable hash of the member id, so every
   occurrence of an id shares a partition), send a chunk whenever a buffer fills, and write the invalid
   rows as `planner-*` report parts.
Only the per-partition buffers are held: memory does not grow with the file. Reading twice costs one more
GET of at most IMPORT_MAX_BYTES and needs no scratch space.
"""

from __future__ import annotations

import itertools
import json
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote_plus

from cio_sync.aws_limits import SQS_BATCH
from cio_sync.imports.chunk import ChunkMessage
from cio_sync.imports.keys import UPLOAD_PREFIX, chunk_part_name, planner_part_name
from cio_sync.imports.outcomes import RowOutcome
from cio_sync.imports.report import ImportReport, ImportSource, Part, rejected_report
from cio_sync.imports.rows import Row, checked_rows
from cio_sync.imports.settle import ReportStore, Settlement, settle
from cio_sync.imports.text_lines import FileRejected

# Enough groups for the chunk function's bounded concurrency to stay busy on one import.
DEFAULT_PARTITIONS = 16
# ~40 KB of JSON per message: far under SQS's 256 KiB, and a second or so of DynamoDB work.
DEFAULT_CHUNK_ROWS = 1000


@dataclass(frozen=True)
class PlanLimits:
    max_bytes: int
    partitions: int = DEFAULT_PARTITIONS
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    part_rows: int = DEFAULT_CHUNK_ROWS


class Uploads(Protocol):
    """The uploaded files: `reader(source)` opens the object afresh each time it is called."""

    def reader(self, source: ImportSource) -> Callable[[], Iterable[bytes]]: ...


class ChunkQueue(Protocol):
    """The FIFO chunk queue (group = import + partition, deduplication id = import + chunk)."""

    def send(self, messages: Sequence[ChunkMessage]) -> None: ...


def partition_of(member_id: str, partitions: int) -> int:
    """Stable across processes and Python versions (unlike hash()), and cheap for a million rows."""
    return zlib.crc32(member_id.encode()) % partitions


@dataclass(frozen=True)
class Survey:
    rows: int
    invalid: int
    chunks_total: int
    planner_parts: int


def survey(chunks: Iterable[bytes], limits: PlanLimits) -> Survey:
    """First pass: raises FileRejected for any whole-file problem; otherwise what dispatch will produce."""
    valid_per_partition = [0] * limits.partitions
    rows = invalid = 0
    for _, member_id, _, _ in checked_rows(chunks, limits.max_bytes):
        rows += 1
        if member_id is None:
            invalid += 1
        else:
            valid_per_partition[partition_of(member_id, limits.partitions)] += 1
    return Survey(
        rows=rows,
        invalid=invalid,
        chunks_total=sum(_blocks(count, limits.chunk_rows) for count in valid_per_partition),
        planner_parts=_blocks(invalid, limits.part_rows),
    )


def _blocks(count: int, size: int) -> int:
    return -(-count // size)


@dataclass
class Dispatch:
    """Second-pass state: the partition buffers, the invalid-row buffer, and messages awaiting a batch."""

    import_id: str
    mute_at: str
    dry_run: bool
    limits: PlanLimits
    queue: ChunkQueue
    store: ReportStore
    now: Callable[[], str]
    done_parts: set[str]
    _outgoing: list[ChunkMessage] = field(default_factory=list, init=False)
    _chunks: Iterator[int] = field(default_factory=itertools.count, init=False)
    _planner_parts: Iterator[int] = field(default_factory=itertools.count, init=False)

    def run(self, rows: Iterable[Row]) -> tuple[int, int]:
        """Returns how many chunks and planner parts the file produced (sent or, on a resume, skipped)."""
        buffers: list[list[tuple[int, str]]] = [[] for _ in range(self.limits.partitions)]
        invalid: list[RowOutcome] = []
        for number, member_id, shown_value, reason in rows:
            if member_id is None:
                invalid.append(RowOutcome(number, shown_value, "invalid", reason))
                if len(invalid) == self.limits.part_rows:
                    self._write_planner_part(invalid)
                    invalid = []
                continue
            partition = partition_of(member_id, self.limits.partitions)
            buffer = buffers[partition]
            buffer.append((number, member_id))
            if len(buffer) == self.limits.chunk_rows:
                self._emit(partition, buffer)
                buffers[partition] = []
        for partition, buffer in enumerate(buffers):
            if buffer:
                self._emit(partition, buffer)
        if invalid:
            self._write_planner_part(invalid)
        self._flush()
        return next(self._chunks), next(self._planner_parts)

    def _emit(self, partition: int, rows: list[tuple[int, str]]) -> None:
        chunk = next(self._chunks)
        if chunk_part_name(chunk) in self.done_parts:
            return
        self._outgoing.append(
            ChunkMessage(self.import_id, chunk, partition, tuple(rows), self.mute_at, self.dry_run)
        )
        if len(self._outgoing) == SQS_BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._outgoing:
            self.queue.send(self._outgoing)
            self._outgoing = []

    def _write_planner_part(self, invalid: list[RowOutcome]) -> None:
        name = planner_part_name(next(self._planner_parts))
        if name not in self.done_parts:
            self.store.write_part(self.import_id, Part.from_outcomes(name, invalid, processed_at=self.now()))


@dataclass(frozen=True)
class PlanResult:
    """`already_done` is true when the import was finished or rejected before (a redelivered upload event)."""

    report: ImportReport
    newly_rejected: bool = False
    already_done: bool = False
    settlement: Settlement | None = None
    invalid_rows: int = 0


def plan_import(
    source: ImportSource,
    read_object: Callable[[], Iterable[bytes]],
    store: ReportStore,
    queue: ChunkQueue,
    *,
    limits: PlanLimits,
    now: Callable[[], str],
) -> PlanResult:
    """Survey, write the `processing` report, dispatch, then settle (an all-invalid file ends right here).

    Safe to run again for the same object: a finished import is left alone, and an interrupted one resumes
    with its original start time as `mute_at`, skipping the chunks whose part already exists. An interrupted
    one whose file can no longer be read is never turned into a rejection (see `_reject`).
    """
    import_id = source.import_id
    existing = store.read_report(import_id)
    if existing is not None and existing.is_final:
        return PlanResult(existing, already_done=True)
    started_at = existing.started_at if existing is not None else now()
    try:
        if source.size is not None and source.size > limits.max_bytes:
            raise FileRejected(f"file is larger than the {limits.max_bytes}-byte limit")
        found = survey(read_object(), limits)
    except FileRejected as rejection:
        return _reject(store, source, rejection.reason, started_at, now)
    if existing is None:
        fresh = ImportReport(
            import_id=import_id,
            status="processing",
            source=source,
            started_at=started_at,
            rows=found.rows,
            chunks_total=found.chunks_total,
            planner_parts=found.planner_parts,
        )
        if not store.create_report(fresh):
            # Another planner of the same object got there first: follow its start time, as on a resume.
            existing = store.read_report(import_id)
            if existing is None:
                raise RuntimeError(f"import {import_id}: the report vanished while planning")
            if existing.is_final:
                return PlanResult(existing, already_done=True)
            started_at = existing.started_at
    done_parts = store.part_names(import_id) if existing is not None else set()
    dispatch = Dispatch(import_id, started_at, source.dry_run, limits, queue, store, now, done_parts)
    try:
        produced = dispatch.run(checked_rows(read_object(), limits.max_bytes))
    except FileRejected as rejection:
        raise RuntimeError(f"import {import_id}: the second read disagrees with the first") from rejection
    if produced != (found.chunks_total, found.planner_parts):
        raise RuntimeError(f"import {import_id}: the second read disagrees with the first")
    settlement = settle(store, import_id)
    if settlement.report is None:
        raise RuntimeError(f"import {import_id}: the report vanished while planning")
    return PlanResult(settlement.report, settlement=settlement, invalid_rows=found.invalid)


class ImportCannotResume(RuntimeError):
    """The import has started (its report exists) but its file cannot be read any more: it cannot be planned
    to the end, and it must not be called rejected, since its chunks may have muted members. The report is
    left as it is and the planner's message fails, towards its (alarmed) dead-letter queue."""


def _reject(
    store: ReportStore, source: ImportSource, reason: str, started_at: str, now: Callable[[], str]
) -> PlanResult:
    """Rejects an import that has not started: the rejected report is only ever created, never written over
    one. A report that exists (processing, or completed) means chunks were sent and may have muted members;
    a late rejection (a redelivered notification whose read now fails, a planner retried after its object
    was deleted or replaced, a second planner racing the first) must not hide that."""
    report = rejected_report(source, reason, started_at, finished_at=now())
    if store.create_report(report):
        return PlanResult(report, newly_rejected=True)
    current = store.read_report(source.import_id)
    if current is not None and current.is_final:
        return PlanResult(current, already_done=True)
    raise ImportCannotResume(
        f"import {source.import_id} has started, but its file can no longer be read ({reason}); "
        "its report is left as it is"
    )


def sources_from_notification(body: str) -> list[ImportSource]:
    """The uploads named by an S3 event notification (the SQS message body), skipping what is not one.

    Skipped: s3:TestEvent (sent when the notification is configured), non-create events, keys outside
    `mute-promotions/`, and "folders" (zero-byte keys ending in `/` that the S3 console creates).
    Keys arrive URL-encoded (`+` for a space).
    """
    try:
        event = json.loads(body)
    except ValueError:
        raise ValueError("the message is not an S3 event notification (not JSON)") from None
    if not isinstance(event, dict) or event.get("Event") == "s3:TestEvent":
        return []
    records = event.get("Records")
    if not isinstance(records, list):
        raise ValueError("the message is not an S3 event notification (no Records)")
    sources = []
    for record in records:
        source = _source_of(record)
        if source is not None:
            sources.append(source)
    return sources


def _source_of(record: Any) -> ImportSource | None:
    if not isinstance(record, Mapping) or not str(record.get("eventName", "")).startswith("ObjectCreated:"):
        return None
    s3 = record.get("s3")
    if not isinstance(s3, Mapping):
        raise ValueError("an S3 event record has no s3 section")
    bucket, entry = s3.get("bucket"), s3.get("object")
    if not isinstance(bucket, Mapping) or not isinstance(entry, Mapping):
        raise ValueError("an S3 event record has no bucket or object")
    key = unquote_plus(str(entry.get("key", "")))
    if not key.startswith(UPLOAD_PREFIX) or key.endswith("/"):
        return None
    etag, size, version_id = entry.get("eTag"), entry.get("size"), entry.get("versionId")
    if not isinstance(etag, str) or not etag:
        raise ValueError("an S3 event record has no eTag")
    return ImportSource(
        bucket=str(bucket.get("name", "")),
        key=key,
        etag=etag.strip('"'),
        version_id=version_id if isinstance(version_id, str) and version_id else None,
        size=size if isinstance(size, int) else None,
    )
