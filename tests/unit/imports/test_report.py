from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import replace

import pytest

from cio_sync.imports.keys import chunk_part_name, planner_part_name, rejected_csv_key, report_key
from cio_sync.imports.outcomes import RowOutcome, zero_counts
from cio_sync.imports.rejected_csv import merged_rejected_csv, rejected_csv_lines, spreadsheet_safe
from cio_sync.imports.report import ImportReport, ImportSource, MalformedReport, Part
from cio_sync.imports.settle import finish, settle
from tests.unit.imports.fakes import MemoryStore, counts

SOURCE = ImportSource("imports", "mute-promotions/list.csv", '"etag"', version_id="v1")
STARTED = "2026-11-26T16:00:00.000000Z"


def processing(chunks: int = 2, planner_parts: int = 1) -> ImportReport:
    return ImportReport(
        import_id=SOURCE.import_id,
        status="processing",
        source=SOURCE,
        started_at=STARTED,
        rows=5,
        chunks_total=chunks,
        planner_parts=planner_parts,
    )


def parts() -> list[Part]:
    return [
        Part.from_outcomes(
            planner_part_name(0),
            [RowOutcome(3, "bad", "invalid", "northstar_id is empty")],
            "2026-11-26T16:00:01Z",
        ),
        Part.from_outcomes(
            chunk_part_name(0),
            [RowOutcome(2, "a" * 24, "muted"), RowOutcome(6, "b" * 24, "not_found", "no member")],
            "2026-11-26T16:00:05Z",
        ),
        Part.from_outcomes(
            chunk_part_name(1),
            [
                RowOutcome(4, "c" * 24, "already_muted", "member was already muted"),
                RowOutcome(5, "a" * 24, "muted"),
            ],
            "2026-11-26T16:00:03Z",
        ),
    ]


def test_keys_stay_under_the_report_prefix() -> None:
    assert report_key("abc") == "reports/mute-promotions/abc.json"
    assert rejected_csv_key("abc") == "reports/mute-promotions/abc.rejected.csv"


def test_the_report_json_has_the_agreed_fields_and_round_trips() -> None:
    report = processing()
    data = json.loads(report.to_json())
    assert data == {
        "import_id": SOURCE.import_id,
        "status": "processing",
        "reason": None,
        "source": {"bucket": "imports", "key": "mute-promotions/list.csv", "version": "v1", "etag": "etag"},
        "dry_run": False,
        "rows": 5,
        "counts": {"muted": 0, "already_muted": 0, "not_found": 0, "invalid": 0, "duplicate": 0},
        "chunks_total": 2,
        "chunks_done": 0,
        "planner_parts": 1,
        "started_at": STARTED,
        "finished_at": None,
        "rejected_rows": None,
    }
    assert ImportReport.from_json(report.to_json()) == ImportReport.from_json(report.to_json().encode())


@pytest.mark.parametrize(
    "change",
    [
        {"status": "done"},
        {"source": "x"},
        {"rows": -1},
        {"rows": True},
        {"counts": []},
        {"counts": {"muted": "1"}},
        {"started_at": ""},
        {"reason": 3},
    ],
)
def test_malformed_reports_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(MalformedReport):
        ImportReport.from_json(json.dumps(json.loads(processing().to_json()) | change))


@pytest.mark.parametrize("text", ["[]", "nope"])
def test_reports_that_are_not_objects_are_refused(text: str) -> None:
    with pytest.raises(MalformedReport):
        ImportReport.from_json(text)


def test_parts_round_trip() -> None:
    for part in parts():
        assert Part.from_json(part.to_json()) == part


def test_settle_records_progress_until_every_part_is_present() -> None:
    store = MemoryStore()
    store.put_report(processing())
    planner, first, second = parts()
    store.write_part(SOURCE.import_id, planner)
    store.write_part(SOURCE.import_id, first)
    settled = settle(store, SOURCE.import_id)
    assert not settled.finished_now
    assert settled.report is not None
    assert (settled.report.status, settled.report.chunks_done) == ("processing", 1)
    assert store.read_report(SOURCE.import_id) == settled.report

    store.write_part(SOURCE.import_id, second)
    settled = settle(store, SOURCE.import_id)
    assert settled.finished_now
    final = store.read_report(SOURCE.import_id)
    assert final == settled.report
    assert final is not None
    assert final.status == "completed"
    assert dict(final.counts) == counts(muted=2, already=1, missing=1, invalid=1)
    assert sum(final.counts.values()) == final.rows
    assert (final.chunks_done, final.finished_at) == (2, "2026-11-26T16:00:05Z")
    assert json.loads(final.to_json())["rejected_rows"] == rejected_csv_key(SOURCE.import_id)
    assert store.rejected_csvs[SOURCE.import_id] == (
        "row,northstar_id,outcome,reason\n"
        "3,bad,invalid,northstar_id is empty\n"
        f"4,{'c' * 24},already_muted,member was already muted\n"
        f"6,{'b' * 24},not_found,no member\n"
    )


def test_settling_a_finished_import_writes_nothing() -> None:
    store = MemoryStore()
    store.put_report(processing(chunks=0, planner_parts=0))
    assert settle(store, SOURCE.import_id).finished_now
    writes = len(store.report_writes)
    again = settle(store, SOURCE.import_id)
    assert not again.finished_now
    assert len(store.report_writes) == writes
    assert settle(store, "unknown").report is None


def test_racing_finishers_write_identical_reports() -> None:
    store = MemoryStore()
    store.put_report(processing())
    for part in parts():
        store.write_part(SOURCE.import_id, part)
    report = processing()
    first = finish(store, report)
    first_csv = store.rejected_csvs[SOURCE.import_id]
    second = finish(store, report)
    assert first == second
    assert store.rejected_csvs[SOURCE.import_id] == first_csv


def test_a_finisher_that_loses_the_race_writes_the_report_once_only() -> None:
    store = InterleavingStore()
    store.put_report(processing())
    for part in parts():
        store.write_part(SOURCE.import_id, part)

    def another_finisher_completes() -> None:
        assert settle(store, SOURCE.import_id).finished_now

    store.interleave = another_finisher_completes
    late = settle(store, SOURCE.import_id)
    assert not late.finished_now
    assert late.report is not None
    assert late.report.status == "completed"
    assert [report.status for report in store.report_writes] == ["processing", "completed"]


class InterleavingStore(MemoryStore):
    """Runs `interleave` right after the first listing was taken: another chunk finishing meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.interleave: Callable[[], None] | None = None

    def part_names(self, import_id: str) -> set[str]:
        names = super().part_names(import_id)
        if self.interleave is not None:
            action, self.interleave = self.interleave, None
            action()
        return names


def test_a_stale_progress_write_never_outlives_the_completed_report() -> None:
    store = InterleavingStore()
    store.put_report(processing())
    planner, first, second = parts()
    store.write_part(SOURCE.import_id, planner)
    store.write_part(SOURCE.import_id, first)

    def the_last_chunk_finishes() -> None:
        store.write_part(SOURCE.import_id, second)
        assert settle(store, SOURCE.import_id).finished_now

    store.interleave = the_last_chunk_finishes
    late = settle(store, SOURCE.import_id)
    statuses = [report.status for report in store.report_writes]
    # The slow settler's progress was read before the completed report was written: it is refused, and the
    # report never goes back from completed, not even for a moment.
    assert statuses == ["processing", "completed"]
    assert [report.status for report in store.refused_writes] == ["processing"]
    assert not late.finished_now
    assert late.report is not None
    assert late.report.status == "completed"
    final = store.read_report(SOURCE.import_id)
    assert final is not None
    assert final.status == "completed"


def test_progress_only_moves_forward() -> None:
    store = MemoryStore()
    store.put_report(processing())
    planner, first, _ = parts()
    store.write_part(SOURCE.import_id, planner)
    store.write_part(SOURCE.import_id, first)
    progress = settle(store, SOURCE.import_id).report
    assert progress is not None
    assert (progress.status, progress.chunks_done) == ("processing", 1)
    writes = len(store.report_writes)
    # Nothing new to record: no write (a write with the same count would only contend with others).
    assert settle(store, SOURCE.import_id).report == progress == store.read_report(SOURCE.import_id)
    assert len(store.report_writes) == writes


def test_a_completed_or_rejected_report_is_never_replaced() -> None:
    store = MemoryStore()
    store.put_report(processing(chunks=0, planner_parts=0))
    stale = store.read_stored_report(SOURCE.import_id)
    assert stale is not None
    assert settle(store, SOURCE.import_id).finished_now
    assert not store.replace_report(replace(processing(), status="rejected"), stale.etag)
    report = store.read_report(SOURCE.import_id)
    assert report is not None
    assert report.status == "completed"


def test_finishing_with_a_part_missing_is_an_error() -> None:
    store = MemoryStore()
    with pytest.raises(MalformedReport, match="part chunk-000000"):
        finish(store, processing(chunks=1, planner_parts=0))


def test_rejected_rows_from_all_parts_merge_in_row_order() -> None:
    merged = "".join(merged_rejected_csv(["1,a,x,\n9,b,x,\n", "", "2,c,x,\n10,d,x,\n"]))
    assert merged == "row,northstar_id,outcome,reason\n1,a,x,\n2,c,x,\n9,b,x,\n10,d,x,\n"


def test_counts_start_at_zero_for_every_outcome() -> None:
    assert zero_counts() == {"muted": 0, "already_muted": 0, "not_found": 0, "invalid": 0, "duplicate": 0}


@pytest.mark.parametrize(
    "value",
    ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://evil.example","x")', "=1,2"],
)
def test_values_a_spreadsheet_would_run_as_formulas_are_neutralised(value: str) -> None:
    assert spreadsheet_safe(value) == "'" + value
    reason = "northstar_id is not 24 hexadecimal characters"
    text = rejected_csv_lines([RowOutcome(7, value, "invalid", reason)])
    # One line per row, always (the finisher merges parts line by line): a line break in a cell is a space.
    assert text.count("\n") == 1
    assert "\r" not in text
    [row] = list(csv.reader(io.StringIO(text)))
    assert row == ["7", "'" + value.replace("\r", " "), "invalid", reason]


@pytest.mark.parametrize("value", ["", "abc", "'=already", "a=b", "1-2", " =x", "0123456789abcdef01234567"])
def test_values_that_are_not_formulas_are_kept(value: str) -> None:
    assert spreadsheet_safe(value) == value


def test_the_neutralised_csv_merges_and_parses_back_row_by_row() -> None:
    first = Part.from_outcomes(
        chunk_part_name(0),
        [RowOutcome(2, '=cmd|" /C calc"!A0', "invalid", "x"), RowOutcome(5, "a" * 24, "muted")],
        STARTED,
    )
    second = Part.from_outcomes(
        planner_part_name(0),
        [RowOutcome(3, "@x,y", "invalid", "y"), RowOutcome(9, "-2", "invalid", "z")],
        STARTED,
    )
    merged = "".join(merged_rejected_csv([first.rejected_csv, second.rejected_csv]))
    assert list(csv.reader(io.StringIO(merged))) == [
        ["row", "northstar_id", "outcome", "reason"],
        ["2", '\'=cmd|" /C calc"!A0', "invalid", "x"],
        ["3", "'@x,y", "invalid", "y"],
        ["9", "'-2", "invalid", "z"],
    ]
