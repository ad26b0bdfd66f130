"""The wire format of an import's report and of its parts (JSON in S3): what the admin and finishers read.

Reading refuses any shape but the expected one (MalformedReport names the field, never row content).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cio_sync.imports.keys import (
    DRY_RUN_PREFIX,
    chunk_part_name,
    import_id_for,
    planner_part_name,
    rejected_csv_key,
)
from cio_sync.imports.outcomes import OUTCOMES, Outcome, RowOutcome, count_outcomes, zero_counts
from cio_sync.imports.rejected_csv import rejected_csv_lines

Status = Literal["processing", "completed", "rejected"]


class MalformedReport(ValueError):
    """A stored report or part does not have the expected shape (names the field, holds no row content)."""


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
