"""How the last finisher turns an import's parts into its final report (and the rejected-rows CSV).

Parts are written once and never change, so whoever sees all of them present writes the same final report.
A report is only ever created where none exists (`create_report`) or replaced if it is still the version that
was read (`replace_report`), and only a `processing` report is replaced: a report moves forward (more chunks
done, then completed) and never back, and a rejection can never be written over an import that has started.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Final, Protocol

from cio_sync.imports.keys import chunk_part_name
from cio_sync.imports.outcomes import zero_counts
from cio_sync.imports.rejected_csv import merged_rejected_csv
from cio_sync.imports.report import ImportReport, MalformedReport, Part

# A finisher reads every part (a 1,000,000-row import has about a thousand): a few at a time.
PART_READERS: Final = 8
# Settling retries when another writer changed the report between its read and its write; every such failure
# is another writer's success, and those are few (see `settle`), so this bound is never reached in practice.
SETTLE_ATTEMPTS: Final = 50


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
