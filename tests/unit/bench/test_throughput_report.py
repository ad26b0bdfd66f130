"""Phase 7's targets and rows: linearity in the item's size, and CPU per realistic record."""

from __future__ import annotations

import copy

import jsonschema
import pytest

from cio_sync_local.bench.throughput_report import (
    THROUGHPUT_SCHEMA,
    throughput_misses,
    throughput_rows,
)
from tests.unit.bench.samples import throughput


def test_linear_and_cheap_functions_miss_no_target() -> None:
    assert throughput_misses({"throughput": throughput()}) == []
    assert throughput_misses({}) == []
    assert throughput_rows({}) == []


def test_cost_per_kb_that_grows_with_the_size_is_a_miss() -> None:
    figures = throughput()
    figures["member_stream"]["per_kb_ratio_100_to_10"] = 9.7  # quadratic work gives ~10
    (miss,) = throughput_misses({"throughput": figures})
    assert "member-stream's CPU per KB at 100 KB is 9.70 x that at 10 KB (target <= 1.5" in miss


def test_a_realistic_record_over_its_budget_is_a_miss() -> None:
    figures = throughput()
    figures["track"]["realistic"]["cpu_us_per_record"] = 301.0
    (miss,) = throughput_misses({"throughput": figures})
    assert miss == "throughput: track 301 us CPU a realistic record (target <= 300 us)"


def test_each_function_has_its_rows() -> None:
    rows = throughput_rows({"throughput": throughput()})
    assert len(rows) == 9
    assert rows[0][0] == "7. member-stream in process, realistic items (647 B)"
    assert rows[4][1] == "56.8 ms CPU a record; a full batch (1,000) 56.76 s"
    assert rows[8][1] == "1 KB 44.2, 10 KB 5.9, 100 KB 0.6; 100/10 ratio 0.10"


def test_the_schema_refuses_a_function_left_out() -> None:
    jsonschema.validate(throughput(), THROUGHPUT_SCHEMA)
    broken = copy.deepcopy(throughput())
    del broken["import_chunk"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, THROUGHPUT_SCHEMA)
