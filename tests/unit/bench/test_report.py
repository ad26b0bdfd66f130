"""The benchmark's pure parts: the statistics, the request-log window, the targets, the table, the schema."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from cio_sync_local.bench.report import (
    TrafficWindow,
    cold_import_ratio,
    format_table,
    median,
    peak_in_window,
    percentile,
    table_rows,
    target_misses,
    validate_results,
)
from tests.unit.bench.samples import cost, throughput


def results() -> dict[str, Any]:
    """A complete results.json as a run writes it (figures of the shape, not of a real run)."""
    return {
        "schema_version": 1,
        "date": "2026-11-26T17:00:00Z",
        "machine": {
            "system": "Linux",
            "release": "6",
            "machine": "x86_64",
            "cpu_count": 2,
            "python": "3.11.7",
        },
        "total_s": 480.0,
        "rate_limit_per_s": 100,
        "emulator_peak_requests_per_second": 99,
        "targets_missed": [],
        "setup": {"members": 10000},
        "bulk": {
            "members": 10000,
            "requests": 120,
            "operations": 10000,
            "operations_per_request": 83.33,
            "peak_requests_per_second": 3,
            "rate_limited_429": 0,
            "rate_limit_per_s": 100,
            "all_profiles_deleted": True,
            "request_ratio": 83.33,
            "baseline": {
                "members": 2000,
                "requests": 2000,
                "peak_requests_per_second": 99,
                "rate_limited_429": 0,
                "requests_for_all": 10000,
            },
        },
        "reconcile": {
            "members": 10000,
            "requests": 32,
            "operations_per_request": 312.5,
            "rate_limit_per_s": 100,
            "converged": True,
        },
        "interactive": {
            "changes": 200,
            "latency_p50_s": 1.6,
            "latency_p95_s": 1.8,
            "latency_p99_s": 2.4,
            "requests_per_change": 1.0,
            "logins": 1000,
            "login_members": 100,
            "login_requests": 40,
            "login_operations": 100,
            "operations_per_1000_logins": 100.0,
            "batching_window_s": 1.0,
        },
        "parsing": {
            "rows": 1000000,
            "rows_per_s": 400000,
            "csv_rows_per_s": 2400000,
            "ratio_to_csv": 0.61,
            "memory": [{"rows": 100000, "peak_mib": 5.4}, {"rows": 1000000, "peak_mib": 5.5}],
            "memory_constant": True,
        },
        "cold_start": {"runs": 5, "boto3_s": 0.115, "modules_s": {"cio_sync.handlers.track": 0.138}},
        "throughput": throughput(),
        "cost": cost(),
    }


def test_percentile_interpolates_between_closest_ranks() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([5.0, 1.0, 3.0], 0.0) == 1.0
    assert percentile([5.0, 1.0, 3.0], 1.0) == 5.0
    assert percentile(list(map(float, range(1, 101))), 0.95) == pytest.approx(95.05)
    assert median([7.0]) == 7.0


@pytest.mark.parametrize(("values", "fraction"), [([], 0.5), ([1.0], 1.5), ([1.0], -0.1)])
def test_percentile_refuses_what_has_no_answer(values: list[float], fraction: float) -> None:
    with pytest.raises(ValueError, match=r"percentile|fraction"):
        percentile(values, fraction)


def test_peak_counts_the_busiest_sliding_second_as_the_emulator_does() -> None:
    assert peak_in_window([]) == 0
    assert peak_in_window([0.0, 0.5, 0.99, 1.4, 1.45]) == 4  # all but 0.0 share (0.45, 1.45]
    assert peak_in_window([0.0, 1.0, 2.0]) == 1  # exactly one second apart: not in the same window
    assert peak_in_window([3.0, 1.0, 2.5, 2.9]) == 3  # unsorted input


def test_traffic_window_keeps_track_requests_between_the_two_moments() -> None:
    log = [
        {"method": "POST", "path": "/api/v2/batch", "status": 200, "time": 9.0, "operations": 500},
        {"method": "POST", "path": "/api/v2/batch", "status": 200, "time": 10.0, "operations": 100},
        {"method": "POST", "path": "/api/v2/batch", "status": 429, "time": 10.2, "operations": 0},
        {"method": "POST", "path": "/api/v2/batch", "status": 207, "time": 10.4, "operations": 99},
        {"method": "POST", "path": "/v1/send/email", "status": 200, "time": 10.5, "operations": 1},
        {"method": "DELETE", "path": "/api/v1/customers/x", "status": 0, "time": 10.6, "operations": 0},
    ]
    window = TrafficWindow.from_log(log, since=10.0, until=11.0)
    assert window.requests == 4
    assert window.operations == 199
    assert window.operations_per_request == pytest.approx(49.75)
    assert window.rate_limited == 1
    assert window.by_status == {"200": 1, "429": 1, "207": 1, "0": 1}
    assert window.peak_per_second == 4
    assert (window.first_at, window.last_at) == (10.0, 10.6)
    assert TrafficWindow.from_log(log, since=20.0, until=21.0).operations_per_request == 0.0


def test_a_run_that_meets_every_target_misses_none() -> None:
    assert target_misses(results()) == []


def test_each_missed_target_is_named() -> None:
    missed = copy.deepcopy(results())
    missed["bulk"].update(operations_per_request=12.0, peak_requests_per_second=101, rate_limited_429=3)
    missed["interactive"].update(requests_per_change=1.5, login_operations=1000)
    missed["parsing"]["memory_constant"] = False
    missed["reconcile"]["converged"] = False
    missed["emulator_peak_requests_per_second"] = 130
    missed["parsing"]["ratio_to_csv"] = 0.17
    missed["cold_start"]["modules_s"]["cio_sync.handlers.track"] = 0.318
    misses = target_misses(missed)
    assert len(misses) == 10
    assert any("0.17 x the csv module" in miss for miss in misses)
    assert any("cio_sync.handlers.track 2.77 x import boto3" in miss for miss in misses)
    assert any("12.0 operations per request" in miss for miss in misses)
    assert any("3 answers 429" in miss for miss in misses)
    assert any("130 requests in one second" in miss for miss in misses)


def test_the_table_lists_every_figure() -> None:
    table = format_table(table_rows(results()))
    lines = table.splitlines()
    assert lines[0].startswith("| figure")
    assert len({len(line) for line in lines}) == 1  # columns aligned
    assert "83.3" in table
    assert "p50 1.6 s, p95 1.8 s" in table
    assert "cio_sync.handlers.track" in table
    assert "ratio 1.20" in table
    assert "7. track in process, realistic items (647 B)" in table
    assert "82 us CPU a record (12,195/s)" in table
    assert "a full batch (1,000) 56.76 s" in table


def test_results_follow_the_schema_and_a_broken_one_is_refused() -> None:
    validate_results(results())
    broken = copy.deepcopy(results())
    del broken["bulk"]["baseline"]["requests_for_all"]
    with pytest.raises(jsonschema.ValidationError):
        validate_results(broken)
    with pytest.raises(jsonschema.ValidationError):
        validate_results({**results(), "date": "yesterday"})


def test_the_cold_start_figure_is_the_median_of_paired_ratios_when_recorded() -> None:
    cold = {"boto3_s": 0.2, "modules_s": {"m": 0.3}, "ratios": {"m": 1.21}}
    assert cold_import_ratio(cold, "m", 0.3) == 1.21
    assert cold_import_ratio({"boto3_s": 0.2, "modules_s": {"m": 0.3}}, "m", 0.3) == pytest.approx(1.5)


def test_the_interactive_row_shows_the_p99_sync_lag_when_recorded() -> None:
    """Issue 24: the bench reports p50 and p99 of the interactive changes' lag (runs before it had none)."""
    assert "p50 1.6 s, p95 1.8 s, p99 2.4 s" in format_table(table_rows(results()))
    earlier = results()
    del earlier["interactive"]["latency_p99_s"]
    assert "p99" not in format_table(table_rows(earlier))


@pytest.mark.parametrize(
    ("drop", "where"),
    [(("interactive", "latency_p99_s"), "latency_p99_s"), (("cost",), "cost"), (("cost", "mixes"), "mixes")],
)
def test_a_run_without_the_lag_percentiles_or_the_cost_is_refused(drop: tuple[str, ...], where: str) -> None:
    """`make bench` must record the sync lag's p99 and the cost figures into results.json."""
    broken = results()
    parent = broken
    for key in drop[:-1]:
        parent = parent[key]
    del parent[drop[-1]]
    with pytest.raises(jsonschema.ValidationError, match=where):
        validate_results(broken)
