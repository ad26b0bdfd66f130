"""In-memory stand-ins for the import's adapters, with the same semantics as S3, SQS FIFO and DynamoDB."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cio_sync.imports.chunk import ChunkMessage, Claim, parse_chunk_message, process_chunk
from cio_sync.imports.outcomes import Outcome
from cio_sync.imports.plan import PlanLimits, PlanResult, plan_import
from cio_sync.imports.report import ImportReport, ImportSource, Part
from cio_sync.imports.settle import StoredReport

BUCKET = "imports"


class Clock:
    """Distinct, increasing contract timestamps, so tests can tell which call stamped what."""

    def __init__(self) -> None:
        self._ticks = itertools.count()
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            tick = next(self._ticks)
        return f"2026-11-26T16:{tick // 60:02d}:{tick % 60:02d}.000000Z"


@dataclass
class MemoryStore:
    """The report prefix of the bucket: objects by key, with S3's conditional writes for reports.

    Every stored report gets a new tag (as S3 gives a new ETag to new content); `put_report` writes without a
    condition, for arranging a test only: the code under test has no such write.
    """

    reports: dict[str, str] = field(default_factory=dict)
    parts: dict[tuple[str, str], str] = field(default_factory=dict)
    rejected_csvs: dict[str, str] = field(default_factory=dict)
    report_writes: list[ImportReport] = field(default_factory=list)
    refused_writes: list[ImportReport] = field(default_factory=list)
    _tags: dict[str, str] = field(default_factory=dict)
    _versions: Iterator[int] = field(default_factory=itertools.count)

    def read_report(self, import_id: str) -> ImportReport | None:
        text = self.reports.get(import_id)
        return None if text is None else ImportReport.from_json(text)

    def read_stored_report(self, import_id: str) -> StoredReport | None:
        report = self.read_report(import_id)
        return None if report is None else StoredReport(report, self._tag(import_id))

    def put_report(self, report: ImportReport) -> None:
        self.reports[report.import_id] = report.to_json()
        self._tags[report.import_id] = f'"{next(self._versions)}"'
        self.report_writes.append(report)

    def create_report(self, report: ImportReport) -> bool:
        if report.import_id in self.reports:
            self.refused_writes.append(report)
            return False
        self.put_report(report)
        return True

    def replace_report(self, report: ImportReport, etag: str) -> bool:
        if report.import_id not in self.reports or self._tag(report.import_id) != etag:
            self.refused_writes.append(report)
            return False
        self.put_report(report)
        return True

    def _tag(self, import_id: str) -> str:
        # Reports copied in from another store (`reports = other.reports`) get a tag when first read.
        return self._tags.setdefault(import_id, f'"{next(self._versions)}"')

    def read_part(self, import_id: str, name: str) -> Part | None:
        text = self.parts.get((import_id, name))
        return None if text is None else Part.from_json(text)

    def write_part(self, import_id: str, part: Part) -> None:
        self.parts[import_id, part.name] = part.to_json()

    def part_names(self, import_id: str) -> set[str]:
        return {name for owner, name in self.parts if owner == import_id}

    def write_rejected_csv(self, import_id: str, lines: Iterable[str]) -> None:
        self.rejected_csvs[import_id] = "".join(lines)


@dataclass
class FifoQueue:
    """Keeps messages in send order and drops a repeated deduplication id, as SQS FIFO does."""

    messages: list[ChunkMessage] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    sends: int = 0

    def send(self, messages: Sequence[ChunkMessage]) -> None:
        assert 1 <= len(messages) <= 10
        self.sends += 1
        for message in messages:
            if message.deduplication_id not in self.seen:
                self.seen.add(message.deduplication_id)
                self.messages.append(message)

    def drain(self) -> Iterator[ChunkMessage]:
        while self.messages:
            yield self.messages.pop(0)


class Claims:
    """The idempotency table's claims, with the chunk's mute as one atomic step (a transaction on AWS).

    A row takes a free id or decides its own undecided claim; a decided claim, or another row's, is returned
    as it is. `mute` changes the member and records "muted" together, or does neither.
    """

    def __init__(self, members: Members) -> None:
        self.members = members
        self.items: dict[tuple[str, str], tuple[int, Outcome | None]] = {}
        self.calls = 0
        self._lock = threading.Lock()

    @property
    def holders(self) -> dict[tuple[str, str], int]:
        return {key: holder for key, (holder, _) in self.items.items()}

    @property
    def outcomes(self) -> dict[tuple[str, str], Outcome | None]:
        return {key: outcome for key, (_, outcome) in self.items.items()}

    def mute(self, import_id: str, member_id: str, row: int, mute_at: str) -> Claim:
        with self._lock:
            self.calls += 1
            stored = self._blocking(import_id, member_id, row)
            if stored is not None:
                return stored
            if not self.members.mute(member_id, mute_at):
                return Claim(row)
            self.items[import_id, member_id] = (row, "muted")
            return Claim(row, "muted")

    def restamp(self, import_id: str, member_id: str, row: int, mute_at: str, seen_muted_at: str) -> Claim:
        with self._lock:
            self.calls += 1
            stored = self._blocking(import_id, member_id, row)
            if stored is not None:
                return stored
            if not self.members.restamp(member_id, mute_at, seen_muted_at):
                return Claim(row)
            self.items[import_id, member_id] = (row, "already_muted")
            return Claim(row, "already_muted")

    def record(self, import_id: str, member_id: str, row: int, outcome: Outcome) -> Claim:
        with self._lock:
            self.calls += 1
            stored = self._blocking(import_id, member_id, row)
            if stored is not None:
                return stored
            self.items[import_id, member_id] = (row, outcome)
            return Claim(row, outcome)

    def claim_undecided(self, import_id: str, member_id: str, row: int) -> None:
        """A claim as the previous version left it: held, with no outcome."""
        self.items[import_id, member_id] = (row, None)

    def _blocking(self, import_id: str, member_id: str, row: int) -> Claim | None:
        held = self.items.get((import_id, member_id))
        if held is None or held == (row, None):
            return None
        return Claim(*held)


class Members:
    """The member table: the import reads members, and mutes one only if it exists and is not muted."""

    def __init__(self, items: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.items: dict[str, dict[str, Any]] = {key: dict(value) for key, value in (items or {}).items()}
        self.writes = 0
        self.reads = 0
        self._lock = threading.Lock()

    def get(self, member_id: str, consistent: bool = True) -> Mapping[str, Any] | None:
        with self._lock:
            self.reads += 1
            item = self.items.get(member_id)
            return None if item is None else dict(item)

    def mute(self, member_id: str, now: str) -> bool:
        with self._lock:
            item = self.items.get(member_id)
            if item is None or item.get("promotions_muted_at"):
                return False
            item["promotions_muted_at"] = now
            self.writes += 1
            return True

    def restamp(self, member_id: str, now: str, seen_muted_at: str) -> bool:
        with self._lock:
            item = self.items.get(member_id)
            if item is None or item.get("promotions_muted_at") != seen_muted_at:
                return False
            item["promotions_muted_at"] = now
            self.writes += 1
            return True

    def resubscribe(self, member_id: str) -> None:
        """What the subscription rules do when a muted member subscribes again: the mute is cleared."""
        with self._lock:
            self.items[member_id]["promotions_muted_at"] = None


def counts(
    muted: int = 0, already: int = 0, missing: int = 0, invalid: int = 0, dup: int = 0
) -> dict[str, int]:
    return {
        "muted": muted,
        "already_muted": already,
        "not_found": missing,
        "invalid": invalid,
        "duplicate": dup,
    }


def source_for(
    key: str = "mute-promotions/list.csv", content: bytes = b"", etag: str = "etag-1"
) -> ImportSource:
    return ImportSource(bucket=BUCKET, key=key, etag=etag, size=len(content))


def in_pieces(content: bytes, size: int) -> list[bytes]:
    return [content[start : start + size] for start in range(0, len(content), size)] or [b""]


@dataclass
class Harness:
    """Plans a file and runs every chunk through the fakes, as the two functions would on AWS."""

    members: Members = field(default_factory=Members)
    store: MemoryStore = field(default_factory=MemoryStore)
    queue: FifoQueue = field(default_factory=FifoQueue)
    clock: Clock = field(default_factory=Clock)
    limits: PlanLimits = field(default_factory=lambda: PlanLimits(max_bytes=1_000_000))
    piece_size: int = 7
    claims: Claims = field(init=False)

    def __post_init__(self) -> None:
        self.claims = Claims(self.members)

    def plan(self, source: ImportSource, content: bytes) -> PlanResult:
        return plan_import(
            source,
            lambda: iter(in_pieces(content, self.piece_size)),
            self.store,
            self.queue,
            limits=self.limits,
            now=self.clock,
        )

    def run_chunks(self) -> None:
        for message in self.queue.drain():
            # Through JSON, as the queue carries it.
            delivered = parse_chunk_message(message.to_json())
            process_chunk(delivered, self.claims, self.members, self.store, now=self.clock)

    def run(self, content: bytes, key: str = "mute-promotions/list.csv") -> ImportReport:
        source = source_for(key, content)
        self.plan(source, content)
        self.run_chunks()
        report = self.store.read_report(source.import_id)
        assert report is not None
        return report

    def rejected_csv(self, report: ImportReport) -> str:
        return self.store.rejected_csvs.get(report.import_id, "")
