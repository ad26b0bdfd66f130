"""Phase 6 in the report: the sweep's rows, its targets and its schema."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from cio_sync_local.bench.report import format_table, table_rows, target_misses, validate_results
from tests.unit.bench.test_report import results


def with_sweep(**changes: Any) -> dict[str, Any]:
    run = copy.deepcopy(results())
    run["sweep"] = {
        "profiles": 100_001,
        "orphans": 10_000,
        "members": 90_000,
        "scanned": 100_001,
        "pages": 101,
        "deletes_queued": 10_000,
        "app_requests": 250,  # 101 pages, the opt-out walk's one (empty) page, 148 mark reads
        "unsubscribed": 0,
        "app_peak_requests_per_second": 5,
        "app_limit_per_s": 10,
        "app_rate_limited_429": 0,
        "track_requests": 12,
        "track_operations": 10_000,
        "track_rate_limited_429": 0,
        "sweep_s": 95.2,
        "wall_s": 101.0,
        "orphans_left": 0,
        "members_kept": 90_000,
        **changes,
    }
    return run


def test_a_sweep_that_meets_its_targets_misses_none_and_is_in_the_table() -> None:
    run = with_sweep()
    validate_results(run)
    assert target_misses(run) == []
    table = format_table(table_rows(run))
    assert "6. profile sweep, 100,001 profiles (10% orphans)" in table
    assert "5, 0 answers 429" in table
    assert "833 deletes per request" in table


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"orphans_left": 3}, "3 orphans left"),
        ({"members_kept": 89_999}, "1 members' profiles lost"),
        ({"app_peak_requests_per_second": 7}, "peak 7 App API requests/s"),
        ({"app_rate_limited_429": 1}, "1 answers 429"),
        ({"app_requests": 500}, "500 App API requests"),
        ({"app_requests": 304}, "304 App API requests (target <= 303)"),
        ({"app_requests": 305, "unsubscribed": 1_500}, "305 App API requests (target <= 304)"),
        ({"track_requests": 10_000}, "10000 Track requests"),
        ({"scanned": 99_000}, "scanned 99000 of 100001"),
    ],
)
def test_each_missed_sweep_target_is_named(changes: dict[str, Any], named: str) -> None:
    misses = target_misses(with_sweep(**changes))
    assert len(misses) == 1
    assert named in misses[0]


def test_a_sweep_without_its_figures_is_refused() -> None:
    broken = with_sweep()
    del broken["sweep"]["app_requests"]
    with pytest.raises(jsonschema.ValidationError):
        validate_results(broken)
