"""The planning benchmark's scaffolding (never shipped): a synthetic import file and a timed plan.

`make bench` and the memory tests run both planning passes over a file that never exists whole in memory,
with chunk sends counted instead of made, to measure rows per second and peak memory.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from cio_sync.imports.chunk import ChunkMessage
from cio_sync.imports.plan import Dispatch, PlanLimits, survey
from cio_sync.imports.report import ImportReport, Part
from cio_sync.imports.rows import checked_rows
from cio_sync.imports.settle import StoredReport


def synthetic_import_file(rows: int, *, block_rows: int = 5000, invalid_every: int = 0) -> Iterator[bytes]:
    """A CSV of `rows` distinct member ids (plus an email column), generated block by block.

    For the planning benchmark and memory tests: it never exists whole in memory. With `invalid_every` = n,
    every n-th row holds a malformed id.
    """
    yield b"northstar_id,email\r\n"
    for start in range(0, rows, block_rows):
        lines = []
        for number in range(start, min(start + block_rows, rows)):
            member_id = "bad-id" if invalid_every and number % invalid_every == 0 else f"{number:024x}"
            lines.append(f"{member_id},member{number}@example.org\r\n")
        yield "".join(lines).encode()


class _CountingQueue:
    def __init__(self) -> None:
        self.messages = 0
        self.rows = 0

    def send(self, messages: Sequence[ChunkMessage]) -> None:
        self.messages += len(messages)
        self.rows += sum(len(message.rows) for message in messages)


@dataclass(frozen=True)
class PlanningMeasurement:
    rows: int
    chunks: int
    seconds: float
    rows_per_second: float
    peak_traced_bytes: int | None


def measure_planning(
    rows: int, *, trace_memory: bool = False, limits: PlanLimits | None = None, block_rows: int = 5000
) -> PlanningMeasurement:
    """Both planning passes over a synthetic file, with sends counted instead of made (for the benchmark).

    `trace_memory` reports tracemalloc's peak (it slows the run several-fold, so time it separately).
    """
    chosen = limits or PlanLimits(max_bytes=1 << 40)
    queue = _CountingQueue()
    if trace_memory:
        tracemalloc.start()
    started = time.perf_counter()
    try:
        found = survey(synthetic_import_file(rows, block_rows=block_rows), chosen)
        dispatch = Dispatch(
            "benchmark", "2026-01-01T00:00:00.000000Z", False, chosen, queue, _NoStore(), _never, set()
        )
        dispatch.run(checked_rows(synthetic_import_file(rows, block_rows=block_rows), chosen.max_bytes))
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if trace_memory else None
    finally:
        if trace_memory:
            tracemalloc.stop()
    if queue.rows != rows or queue.messages != found.chunks_total:
        raise RuntimeError("planning lost rows")
    return PlanningMeasurement(
        rows, queue.messages, seconds, rows / seconds if seconds else float("inf"), peak
    )


def _never() -> str:
    raise RuntimeError("a synthetic file of valid ids has no invalid rows to report")


class _NoStore:
    """Stands in for the report store in the benchmark, which plans valid rows only."""

    def read_report(self, import_id: str) -> ImportReport | None:
        return None

    def read_stored_report(self, import_id: str) -> StoredReport | None:
        return None

    def create_report(self, report: ImportReport) -> bool:
        raise RuntimeError("the benchmark writes no report")

    def replace_report(self, report: ImportReport, etag: str) -> bool:
        raise RuntimeError("the benchmark writes no report")

    def read_part(self, import_id: str, name: str) -> Part | None:
        return None

    def write_part(self, import_id: str, part: Part) -> None:
        raise RuntimeError("the benchmark writes no part")

    def part_names(self, import_id: str) -> set[str]:
        return set()

    def write_rejected_csv(self, import_id: str, lines: Iterable[str]) -> None:
        raise RuntimeError("the benchmark writes no report")
