"""The admin's report of an import, its parts, and how the last finisher turns parts into the final report.

Layout under the bucket's `reports/mute-promotions/` prefix (the function may write nothing else):
  <import-id>.json               the report: status processing|completed|rejected, counts, progress, times
  <import-id>.rejected.csv       row,northstar_id,outcome,reason for every row not muted (completed imports)
  <import-id>/parts/<name>.json  one per chunk (`chunk-000042`) or block of invalid rows (`planner-000000`)

Parts are written once and never change, so whoever sees all of them present writes the same final report.
A report is only ever created where none exists (`create_report`) or replaced if it is still the version that
was read (`replace_report`), and only a `processing` report is replaced: a report moves forward (more chunks
done, then completed) and never back, and a rejection can never be written over an import that has started.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal, Protocol, get_args

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from cio_sync.observability import NAMESPACE, SERVICE, metrics

Outcome = Literal["muted", "already_muted", "not_found", "invalid", "duplicate"]
Status = Literal["processing", "completed", "rejected"]
OUTCOMES: Final[tuple[Outcome, ...]] = get_args(Outcome)
NOT_MUTED: Final[tuple[Outcome, ...]] = tuple(outcome for outcome in OUTCOMES if outcome != "muted")

UPLOAD_PREFIX: Final = "mute-promotions/"
DRY_RUN_PREFIX: Final = "mute-promotions/dry-run/"
REPORT_PREFIX: Final = "reports/mute-promotions/"
REJECTED_CSV_HEADER: Final = ("row", "northstar_id", "outcome", "reason")
# A finisher reads every part (a 1,000,000-row import has about a thousand): a few at a time.
PART_READERS: Final = 8
# A cell starting with one of these is a formula to a spreadsheet (OWASP, CSV injection): `=`, `+`, `-`, `@`,
# and tab and carriage return, which some spreadsheets skip before reading the formula.
FORMULA_TRIGGERS: Final = ("=", "+", "-", "@", "\t", "\r")
# Settling retries when another writer changed the report between its read and its write; every such failure
# is another writer's success, and those are few (see `settle`), so this bound is never reached in practice.
SETTLE_ATTEMPTS: Final = 50


class MalformedReport(ValueError):
    """A stored report or part does not have the expected shape (names the field, holds no row content)."""


def report_key(import_id: str) -> str:
    return f"{REPORT_PREFIX}{import_id}.json"


def rejected_csv_key(import_id: str) -> str:
    return f"{REPORT_PREFIX}{import_id}.rejected.csv"


def parts_prefix(import_id: str) -> str:
    return f"{REPORT_PREFIX}{import_id}/parts/"


def chunk_part_name(chunk: int) -> str:
    return f"chunk-{chunk:06d}"


def planner_part_name(index: int) -> str:
    return f"planner-{index:06d}"


def import_id_for(bucket: str, key: str, etag: str) -> str:
    """Same object, same import: the id is derived from where the object is and what it holds.

    The ETag (quotes stripped) rather than the version id, because both the upload response and every
    S3 notification carry it (moto's notifications carry no versionId). Re-uploading identical bytes under
    the same key is therefore the same import (a no-op); a new key, or new content, is a new import.
    """
    seed = "\n".join((bucket, key, etag.strip('"')))
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ImportSource:
    """The uploaded object; `version_id` (when the bucket is versioned) pins the exact bytes to read."""

    bucket: str
    key: str
    etag: str
    version_id: str | None = None
    size: int | None = None

    @property
    def import_id(self) -> str:
        return import_id_for(self.bucket, self.key, self.etag)

    @property
    def dry_run(self) -> bool:
        return self.key.startswith(DRY_RUN_PREFIX)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "version": self.version_id,
            "etag": self.etag.strip('"'),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImportSource:
        return cls(
            bucket=_text(data, "bucket"),
            key=_text(data, "key"),
            etag=_text(data, "etag"),
            version_id=_optional_text(data, "version"),
        )


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """What happened to one data row. `shown_id` is the id, or the trimmed value of an invalid row."""

    row: int
    shown_id: str
    outcome: Outcome
    reason: str | None = None


def zero_counts() -> dict[Outcome, int]:
    return dict.fromkeys(OUTCOMES, 0)


def count_outcomes(outcomes: Iterable[RowOutcome]) -> dict[Outcome, int]:
    counts = zero_counts()
    for outcome in outcomes:
        counts[outcome.outcome] += 1
    return counts


def spreadsheet_safe(value: str) -> str:
    """Text a spreadsheet would run as a formula, made inert with a leading `'` (shown, not evaluated)."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def _cell(value: str) -> str:
    """A text cell of the rejected-rows CSV: neutralised, then on one line (`shown_value` already flattens
    whitespace; this keeps the one-line promise the merge relies on whatever a caller passes)."""
    return spreadsheet_safe(value).replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


def rejected_csv_lines(outcomes: Iterable[RowOutcome]) -> str:
    """The rows not muted, one CSV line each, in row order.

    The admin opens this file in a spreadsheet, and `shown_id` is whatever the upload held (an invalid row's
    value), so every text cell is neutralised (`_cell`); the csv module quotes what needs quoting. The row
    number is written by this code and stays a bare number (the finisher merges parts by it).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for outcome in sorted(outcomes, key=lambda item: item.row):
        if outcome.outcome != "muted":
            writer.writerow(
                (outcome.row, _cell(outcome.shown_id), outcome.outcome, _cell(outcome.reason or ""))
            )
    return buffer.getvalue()


@dataclass(frozen=True)
class Part:
    """The result of one chunk (or of one block of the planner's invalid rows), written once."""

    name: str
    counts: Mapping[Outcome, int]
    rejected_csv: str  # CSV lines without a header, sorted by row: see `rejected_csv_lines`
    processed_at: str

    @classmethod
    def from_outcomes(cls, name: str, outcomes: Iterable[RowOutcome], processed_at: str) -> Part:
        listed = list(outcomes)
        return cls(name, count_outcomes(listed), rejected_csv_lines(listed), processed_at)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def to_json(self) -> str:
        return json.dumps(
            {
                "part": self.name,
                "processed_at": self.processed_at,
                "counts": dict(self.counts),
                "rejected_csv": self.rejected_csv,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Part:
        data = _object(text)
        return cls(
            name=_text(data, "part"),
            counts=_counts(data.get("counts")),
            rejected_csv=_text(data, "rejected_csv", allow_empty=True),
            processed_at=_text(data, "processed_at"),
        )


@dataclass(frozen=True)
class ImportReport:
    """The admin's view of an import; `planner_parts` lets a finisher know every part it must wait for."""

    import_id: str
    status: Status
    source: ImportSource
    started_at: str
    reason: str | None = None
    rows: int = 0
    counts: Mapping[Outcome, int] = field(default_factory=zero_counts)
    chunks_total: int = 0
    chunks_done: int = 0
    planner_parts: int = 0
    finished_at: str | None = None

    @property
    def dry_run(self) -> bool:
        return self.source.dry_run

    @property
    def is_final(self) -> bool:
        return self.status != "processing"

    def expected_parts(self) -> set[str]:
        return {chunk_part_name(chunk) for chunk in range(self.chunks_total)} | {
            planner_part_name(index) for index in range(self.planner_parts)
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "import_id": self.import_id,
            "status": self.status,
            "reason": self.reason,
            "source": self.source.to_dict(),
            "dry_run": self.dry_run,
            "rows": self.rows,
            "counts": dict(self.counts),
            "chunks_total": self.chunks_total,
            "chunks_done": self.chunks_done,
            "planner_parts": self.planner_parts,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "rejected_rows": rejected_csv_key(self.import_id) if self.status == "completed" else None,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> ImportReport:
        data = _object(text)
        status = data.get("status")
        if status not in ("processing", "completed", "rejected"):
            raise MalformedReport("report field 'status' is not processing, completed or rejected")
        source = data.get("source")
        if not isinstance(source, Mapping):
            raise MalformedReport("report field 'source' is not an object")
        return cls(
            import_id=_text(data, "import_id"),
            status=status,
            source=ImportSource.from_dict(source),
            started_at=_text(data, "started_at"),
            reason=_optional_text(data, "reason"),
            rows=_count(data, "rows"),
            counts=_counts(data.get("counts")),
            chunks_total=_count(data, "chunks_total"),
            chunks_done=_count(data, "chunks_done"),
            planner_parts=_count(data, "planner_parts"),
            finished_at=_optional_text(data, "finished_at"),
        )


@dataclass(frozen=True)
class StoredReport:
    """A report as read, with the version tag (S3: its ETag) that a conditional replace names."""

    report: ImportReport
    etag: str


class ReportStore(Protocol):
    """Where reports and parts live (S3 under `reports/` on AWS; a dict in unit tests).

    There is no unconditional report write: a report is created where none exists, or replaced only if it
    has not changed since it was read.
    """

    def read_report(self, import_id: str) -> ImportReport | None: ...

    def read_stored_report(self, import_id: str) -> StoredReport | None: ...

    def create_report(self, report: ImportReport) -> bool:
        """Write only if no report exists yet; False when one does (two planners of one object race)."""
        ...

    def replace_report(self, report: ImportReport, etag: str) -> bool:
        """Write only if the stored report still has this tag; False when another writer got there first."""
        ...

    def read_part(self, import_id: str, name: str) -> Part | None: ...

    def write_part(self, import_id: str, part: Part) -> None: ...

    def part_names(self, import_id: str) -> set[str]: ...

    def write_rejected_csv(self, import_id: str, lines: Iterable[str]) -> None: ...


@dataclass(frozen=True)
class Settlement:
    """The report after a settle; `finished_now` is true when this call wrote the completed report."""

    report: ImportReport | None
    finished_now: bool = False


class ReportContended(RuntimeError):
    """Other writers kept replacing the report under this settler (the chunk is retried, which is safe)."""


def settle(store: ReportStore, import_id: str) -> Settlement:
    """After writing a part: record progress, or write the completed report when every part is present.

    Every write replaces the version just read (`replace_report`), and only while it is `processing`, so a
    completed report is never overwritten, not even by a slower settler's stale progress. Liveness: the
    writer of the last part lists after writing it, sees every part, and keeps trying until the report is
    final; each of its failed attempts is another writer's success, and successes are few: a progress write
    is skipped unless it raises `chunks_done` (the listing taken after the read can only show more parts
    than the one behind the stored report), so there are at most `chunks_total` of them, then one completion.
    """
    completed: ImportReport | None = None
    for _ in range(SETTLE_ATTEMPTS):
        stored = store.read_stored_report(import_id)
        if stored is None or stored.report.is_final:
            return Settlement(None if stored is None else stored.report)
        report = stored.report
        present = store.part_names(import_id)
        if report.expected_parts() <= present:
            if completed is None:
                completed = finish(store, report)
            if store.replace_report(completed, stored.etag):
                return Settlement(completed, finished_now=True)
            continue
        done = _chunks_done(report, present)
        if done <= report.chunks_done:
            return Settlement(report)
        progress = replace(report, chunks_done=done)
        if store.replace_report(progress, stored.etag):
            return Settlement(progress)
    raise ReportContended(f"import {import_id}: the report changed under each of {SETTLE_ATTEMPTS} attempts")


def _chunks_done(report: ImportReport, present: set[str]) -> int:
    return sum(1 for chunk in range(report.chunks_total) if chunk_part_name(chunk) in present)


def finish(store: ReportStore, report: ImportReport) -> ImportReport:
    """Add up the parts and write the rejected-rows CSV; returns the completed report, for `settle` to write
    after the CSV (so the CSV exists whenever the report says completed).

    Holds each part's not-muted rows as CSV text (tens of bytes a row) to write them in row order. Racing
    finishers write the same CSV: its content depends only on the parts, which never change.
    """
    counts = zero_counts()
    fragments: list[str] = []
    finished_at = report.started_at
    names = sorted(report.expected_parts())
    with ThreadPoolExecutor(max_workers=PART_READERS) as pool:
        parts = list(pool.map(lambda name: store.read_part(report.import_id, name), names))
    for name, part in zip(names, parts, strict=True):
        if part is None:
            raise MalformedReport(f"part {name} disappeared before the import was finished")
        for outcome, number in part.counts.items():
            counts[outcome] += number
        fragments.append(part.rejected_csv)
        finished_at = max(finished_at, part.processed_at)
    store.write_rejected_csv(report.import_id, merged_rejected_csv(fragments))
    return replace(
        report,
        status="completed",
        counts=counts,
        chunks_done=report.chunks_total,
        finished_at=finished_at,
    )


def merged_rejected_csv(fragments: list[str]) -> Iterator[str]:
    """The header, then every part's lines merged by row number (each fragment is already sorted)."""
    yield ",".join(REJECTED_CSV_HEADER) + "\n"
    yield from heapq.merge(*(_lines(fragment) for fragment in fragments), key=_row_number)


def _lines(fragment: str) -> Iterator[str]:
    start = 0
    while (end := fragment.find("\n", start)) >= 0:
        yield fragment[start : end + 1]
        start = end + 1


def _row_number(line: str) -> int:
    return int(line.split(",", 1)[0])


def rejected_report(source: ImportSource, reason: str, started_at: str, finished_at: str) -> ImportReport:
    return ImportReport(
        import_id=source.import_id,
        status="rejected",
        source=source,
        started_at=started_at,
        reason=reason,
        finished_at=finished_at,
    )


def _object(text: str | bytes) -> Mapping[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        raise MalformedReport("not JSON") from None
    if not isinstance(data, dict):
        raise MalformedReport("not a JSON object")
    return data


def _text(data: Mapping[str, Any], name: str, *, allow_empty: bool = False) -> str:
    value = data.get(name)
    if not isinstance(value, str) or (not value and not allow_empty):
        raise MalformedReport(f"field {name!r} is not a non-empty string")
    return value


def _optional_text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedReport(f"field {name!r} is not a string")
    return value


def _count(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedReport(f"field {name!r} is not a count")
    return value


def _counts(data: object) -> dict[Outcome, int]:
    if not isinstance(data, Mapping):
        raise MalformedReport("field 'counts' is not an object")
    return {outcome: _count(data, outcome) for outcome in OUTCOMES}


def publish_row_metrics(counts: Mapping[Outcome, int]) -> None:
    """RowsMuted, and RowsRejected with an `outcome` dimension (one EMF record per outcome seen)."""
    if counts.get("muted"):
        metrics.add_metric(name="RowsMuted", unit=MetricUnit.Count, value=counts["muted"])
    if is_metrics_disabled():  # single_metric would print even then
        return
    for outcome in NOT_MUTED:
        if counts.get(outcome):
            with single_metric(
                name="RowsRejected",
                unit=MetricUnit.Count,
                value=counts[outcome],
                namespace=NAMESPACE,
                default_dimensions={"service": SERVICE},
            ) as metric:
                metric.add_dimension(name="outcome", value=outcome)
