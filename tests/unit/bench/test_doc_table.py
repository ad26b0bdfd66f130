"""The bench table has one home, docs/benchmarks.md, and it is the rendering of bench/results.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cio_sync_local.bench.doc_table import (
    BEGIN,
    END,
    generated_part,
    render,
    replace_between_markers,
    write_doc,
)

ROOT = Path(__file__).resolve().parents[3]


def committed_results() -> dict[str, Any]:
    results: dict[str, Any] = json.loads((ROOT / "bench" / "results.json").read_text(encoding="utf-8"))
    return results


def test_the_doc_shows_the_committed_results_as_the_generator_renders_them() -> None:
    document = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert generated_part(document) == render(committed_results())


def test_the_rendering_carries_the_run_and_its_figures() -> None:
    results = committed_results()
    rendered = render(results)
    assert results["date"] in rendered
    assert f"{results['bulk']['requests']:,} Track requests" in rendered
    assert f"{results['bulk']['operations_per_request']:.1f}" in rendered


def test_write_doc_replaces_only_the_text_between_the_markers(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Before\n\n{BEGIN}\nan old table\n{END}\n\nAfter.\n", encoding="utf-8")
    results = committed_results()
    write_doc(results, doc)
    written = doc.read_text(encoding="utf-8")
    assert "an old table" not in written
    assert written.startswith(f"# Before\n\n{BEGIN}\n")
    assert written.endswith(f"{END}\n\nAfter.\n")
    assert generated_part(written) == render(results)


def test_a_doc_without_markers_is_refused_not_appended_to() -> None:
    with pytest.raises(ValueError, match="markers"):
        replace_between_markers("# Benchmarks\n\nno table here\n", "| table |")
