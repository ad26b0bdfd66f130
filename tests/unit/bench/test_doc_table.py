"""The bench figures have one home, bench/results.json: docs/benchmarks.md's table and README's headlines are
its renderings, so neither can drift from the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cio_sync_local.bench.doc_table import (
    HEADLINES,
    TABLE,
    begin_marker,
    end_marker,
    generated_part,
    headlines,
    render,
    replace_between_markers,
    write_docs,
)
from tests.unit.bench.samples import cost

ROOT = Path(__file__).resolve().parents[3]


def committed_results() -> dict[str, Any]:
    results: dict[str, Any] = json.loads((ROOT / "bench" / "results.json").read_text(encoding="utf-8"))
    return results


def test_the_benchmarks_doc_shows_the_committed_results_as_the_generator_renders_them() -> None:
    document = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert generated_part(document, TABLE) == render(committed_results())


def test_the_readme_headlines_are_the_committed_results() -> None:
    document = (ROOT / "README.md").read_text(encoding="utf-8")
    assert generated_part(document, HEADLINES) == headlines(committed_results())


def test_the_renderings_carry_the_run_and_its_figures() -> None:
    results = committed_results()
    table, lines = render(results), headlines(results)
    assert results["date"] in table
    assert f"{results['bulk']['requests']:,} Track requests" in table
    assert f"{results['bulk']['requests']:,} Track requests" in lines
    assert f"{results['sweep']['app_requests']:,} App API requests" in lines


def test_headlines_leave_out_a_phase_the_run_left_out() -> None:
    results = committed_results()
    del results["sweep"]
    assert "sweep" not in headlines(results)
    assert "mute import" in headlines(results)


def test_write_docs_replaces_only_the_text_between_the_markers(tmp_path: Path) -> None:
    doc, readme = tmp_path / "benchmarks.md", tmp_path / "README.md"
    doc.write_text(f"# Before\n\n{begin_marker(TABLE)}\nan old table\n{end_marker(TABLE)}\n\nAfter.\n")
    readme.write_text(f"Intro.\n{begin_marker(HEADLINES)}\nold figures\n{end_marker(HEADLINES)}\n")
    results = committed_results()
    write_docs(results, doc, readme)
    written = doc.read_text(encoding="utf-8")
    assert "an old table" not in written
    assert written.startswith(f"# Before\n\n{begin_marker(TABLE)}\n")
    assert written.endswith(f"{end_marker(TABLE)}\n\nAfter.\n")
    assert generated_part(written, TABLE) == render(results)
    assert generated_part(readme.read_text(encoding="utf-8"), HEADLINES) == headlines(results)


def test_a_doc_without_markers_is_refused_not_appended_to() -> None:
    with pytest.raises(ValueError, match="markers"):
        replace_between_markers("# Benchmarks\n\nno table here\n", TABLE, "| table |")


def test_the_doc_shows_the_sync_lag_percentiles_and_the_cost_tables_of_a_run() -> None:
    """Issue 24: `make bench`'s lag and cost figures reach docs/benchmarks.md through results.json."""
    results = committed_results()
    results["interactive"] = {**results["interactive"], "latency_p50_s": 1.61, "latency_p99_s": 2.43}
    results["cost"] = cost()
    table = render(results)
    assert "3. interactive sync lag" in table
    assert "p50 1.6 s" in table
    assert "p99 2.4 s" in table
    assert "Cost per million member changes, us-east-1 list prices as of 2026-12-07" in table
    total = cost()["mixes"]["interactive"]["dollars"]["total"]
    assert f"| total | ${total:,.2f} |" in table
    assert "| idle stack, a month | dollars |" in table
    del results["cost"]
    assert "Cost per million" not in render(results)


def test_each_cost_table_ends_with_its_total_though_results_json_sorts_its_keys() -> None:
    """results.json is written with sorted keys, so `total` came out between `sqs requests` and `x-ray`."""
    figures = json.loads(json.dumps(cost(), sort_keys=True))
    tables = [part.splitlines() for part in render({**committed_results(), "cost": figures}).split("\n\n")]
    priced = [
        table
        for table in tables
        if table[0] in ("| line | interactive | bulk |", "| idle stack, a month | dollars |")
    ]
    assert len(priced) == 2
    for table in priced:
        assert table[-1].startswith("| total | $"), table
        assert sum(row.startswith("| total |") for row in table) == 1
