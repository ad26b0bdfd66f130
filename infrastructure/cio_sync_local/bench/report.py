"""The benchmark's pure parts: statistics, the Customer.io request-log window, targets, the table, the schema.

Kept free of the local stack so unit tests check them with sockets disabled, and so the numbers printed
and the numbers written to `bench/results.json` come from one place.
"""

from __future__ import annotations

import math
import os
import platform
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import jsonschema

from cio_sync_local.bench.sweep_report import SWEEP_SCHEMA, sweep_misses, sweep_rows
from cio_sync_local.bench.throughput_report import THROUGHPUT_SCHEMA, throughput_misses, throughput_rows

SCHEMA_VERSION: Final = 1
DEFAULT_RATE_LIMIT: Final = 100
MIN_OPERATIONS_PER_REQUEST: Final = 50.0
WINDOW_S: Final = 1.0


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), so p50 of an even count is a midpoint."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError("fraction must be within [0, 1]")
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def median(values: Sequence[float]) -> float:
    return percentile(values, 0.5)


def peak_in_window(times: Iterable[float], window_s: float = WINDOW_S) -> int:
    """The most timestamps inside any sliding window of `window_s` (the emulator's own definition)."""
    inside: deque[float] = deque()
    peak = 0
    for moment in sorted(times):
        inside.append(moment)
        while inside[0] <= moment - window_s:
            inside.popleft()
        peak = max(peak, len(inside))
    return peak


@dataclass(frozen=True)
class TrafficWindow:
    """What the emulator's request log says about Track API traffic between two moments."""

    requests: int
    operations: int
    peak_per_second: int
    rate_limited: int
    by_status: dict[str, int]
    first_at: float | None
    last_at: float | None

    @property
    def operations_per_request(self) -> float:
        return self.operations / self.requests if self.requests else 0.0

    @classmethod
    def from_log(
        cls, records: Iterable[Mapping[str, Any]], since: float, until: float, *, track_only: bool = True
    ) -> TrafficWindow:
        """`records` as `GET /_emulator/requests` answers; App API sends are left out when `track_only`."""
        chosen = [
            record
            for record in records
            if since <= float(record["time"]) <= until
            and not (track_only and str(record["path"]).startswith("/v1/send"))
        ]
        by_status: dict[str, int] = {}
        for record in chosen:
            by_status[str(record["status"])] = by_status.get(str(record["status"]), 0) + 1
        times = [float(record["time"]) for record in chosen]
        ok = [record for record in chosen if int(record["status"]) in (200, 207)]
        return cls(
            requests=len(chosen),
            operations=sum(int(record["operations"]) for record in ok),
            peak_per_second=peak_in_window(times),
            rate_limited=by_status.get("429", 0),
            by_status=by_status,
            first_at=min(times) if times else None,
            last_at=max(times) if times else None,
        )


def machine() -> dict[str, Any]:
    uname = platform.uname()
    return {
        "system": uname.system,
        "release": uname.release,
        "machine": uname.machine,
        "processor": platform.processor() or uname.machine,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
    }


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- targets ----------------------------------------------------------------------------------------------


def target_misses(results: Mapping[str, Any]) -> list[str]:
    """Every target the issue sets that these results miss (an empty list: all met)."""
    misses: list[str] = []
    bulk = results.get("bulk")
    if bulk is not None:
        limit = int(bulk["rate_limit_per_s"])
        if bulk["operations_per_request"] < MIN_OPERATIONS_PER_REQUEST:
            misses.append(
                f"bulk: {bulk['operations_per_request']:.1f} operations per request "
                f"(target >= {MIN_OPERATIONS_PER_REQUEST:g})"
            )
        if bulk["peak_requests_per_second"] > limit:
            misses.append(
                f"bulk: peak {bulk['peak_requests_per_second']} requests/s above the {limit}/s limit"
            )
        if bulk["rate_limited_429"] != 0 and limit == DEFAULT_RATE_LIMIT:
            misses.append(f"bulk: {bulk['rate_limited_429']} answers 429 at the default configuration")
        if not bulk.get("all_profiles_deleted", False):
            misses.append("bulk: not every imported member's profile was deleted")
    peak = results.get("emulator_peak_requests_per_second")
    configured = results.get("rate_limit_per_s")
    if peak is not None and configured is not None and peak > configured:
        misses.append(
            f"whole run: the emulator saw {peak} requests in one second, above the {configured}/s limit"
        )
    interactive = results.get("interactive")
    if interactive is not None:
        if interactive["requests_per_change"] != 1.0:
            misses.append(
                f"interactive: {interactive['requests_per_change']:g} requests per change (target 1)"
            )
        # A login alone syncs once per window (a day): at most twice per member over a day's logins.
        allowed = 2 * interactive["login_members"]
        if interactive["login_operations"] > allowed:
            misses.append(
                f"interactive: {interactive['login_operations']} Track operations for {interactive['logins']}"
                f" logins of {interactive['login_members']} members (target <= {allowed})"
            )
    reconcile = results.get("reconcile")
    if reconcile is not None and not reconcile.get("converged", False):
        misses.append("reconcile: the profiles do not match the members afterwards")
    parsing = results.get("parsing")
    if parsing is not None and not parsing.get("memory_constant", False):
        misses.append("parsing: peak memory grows with the file size")
    misses.extend(lean_runtime_misses(results))
    misses.extend(sweep_misses(results))
    misses.extend(throughput_misses(results))
    return misses


# The lean runtime's targets: parse at half the csv module's rate at least, import each handler in at
# most this many times `import boto3`.
MIN_PARSE_RATIO_TO_CSV = 0.5
MAX_COLD_IMPORT_RATIO = 1.3


def cold_import_ratio(cold: Mapping[str, Any], module: str, seconds: float) -> float:
    """The median of each round's handler / boto3 ratio when the run recorded it, else the medians' ratio."""
    ratios: Mapping[str, float] = cold.get("ratios") or {}
    return float(ratios.get(module, seconds / cold["boto3_s"]))


def lean_runtime_misses(results: Mapping[str, Any]) -> list[str]:
    misses: list[str] = []
    parsing = results.get("parsing")
    if parsing is not None and parsing["ratio_to_csv"] < MIN_PARSE_RATIO_TO_CSV:
        misses.append(
            f"parsing: {parsing['ratio_to_csv']:.2f} x the csv module's rate "
            f"(target >= {MIN_PARSE_RATIO_TO_CSV})"
        )
    cold = results.get("cold_start")
    if cold is not None:
        for module, seconds in cold["modules_s"].items():
            ratio = cold_import_ratio(cold, module, seconds)
            if ratio > MAX_COLD_IMPORT_RATIO:
                misses.append(
                    f"cold start: {module} {ratio:.2f} x import boto3 (target <= {MAX_COLD_IMPORT_RATIO})"
                )
    return misses


# ---- the table --------------------------------------------------------------------------------------------


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value >= 1 else f"{value * 1000:.0f} ms"


def _ratio(value: float) -> str:
    return f"{value:.1f}x" if value < 100 else f"{value:.0f}x"


def table_rows(results: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, measured, baseline or target) rows, in the issue's order."""
    rows: list[tuple[str, str, str]] = []
    bulk = results.get("bulk")
    if bulk is not None:
        base = bulk["baseline"]
        rows += [
            (
                f"1. bulk mute import, {bulk['members']:,} members with profiles",
                f"{bulk['requests']:,} Track requests",
                f"one request per member: {base['requests_for_all']:,} requests",
            ),
            (
                "   operations per Track request",
                f"{bulk['operations_per_request']:.1f}",
                f"target >= {MIN_OPERATIONS_PER_REQUEST:g}; baseline 1.0",
            ),
            (
                "   peak requests in any one second",
                f"{bulk['peak_requests_per_second']}",
                f"limit {bulk['rate_limit_per_s']}; baseline {base['peak_requests_per_second']}",
            ),
            (
                "   429 answers",
                f"{bulk['rate_limited_429']}",
                f"target 0; baseline {base['rate_limited_429']}",
            ),
            (
                "   requests ratio (baseline / import)",
                _ratio(bulk["request_ratio"]),
                "baseline = Northstar's one v1 DELETE per member, paced at the limit",
            ),
            (
                "   Customer.io time at the limit (requests / limit)",
                _seconds(bulk["requests"] / bulk["rate_limit_per_s"]),
                f"baseline {_seconds(base['requests_for_all'] / bulk['rate_limit_per_s'])}",
            ),
        ]
    reconcile = results.get("reconcile")
    if reconcile is not None:
        rows.append(
            (
                f"2. reconcile, {reconcile['members']:,} members (identify each)",
                f"{reconcile['operations_per_request']:.1f} ops/request, {reconcile['requests']:,} requests",
                f"one request per member: {reconcile['members']:,} requests, "
                f">= {_seconds(reconcile['members'] / reconcile['rate_limit_per_s'])} at the limit",
            )
        )
    interactive = results.get("interactive")
    if interactive is not None:
        rows += [
            (
                f"3. interactive sync lag, {interactive['changes']} single attribute changes",
                f"p50 {_seconds(interactive['latency_p50_s'])}, p95 {_seconds(interactive['latency_p95_s'])}"
                + (
                    f", p99 {_seconds(interactive['latency_p99_s'])}"
                    if "latency_p99_s" in interactive
                    else ""
                ),
                "write to Customer.io's 2xx; includes the stream's "
                f"{interactive['batching_window_s']:g} s batching window",
            ),
            (
                "   requests per change",
                f"{interactive['requests_per_change']:g}",
                "target 1",
            ),
            (
                f"   Track operations per 1,000 logins ({interactive['login_members']} members, one day)",
                f"{interactive['operations_per_1000_logins']:g}",
                "one per login before volatile timestamps rode along: 1000",
            ),
        ]
    parsing = results.get("parsing")
    if parsing is not None:
        sizes = parsing["memory"]
        rows += [
            (
                f"4. import parse + validate, {parsing['rows']:,} rows",
                f"{parsing['rows_per_s']:,.0f} rows/s",
                f"csv module alone {parsing['csv_rows_per_s']:,.0f} rows/s "
                f"(ratio {parsing['ratio_to_csv']:.2f}; target >= {MIN_PARSE_RATIO_TO_CSV})",
            ),
            (
                "   peak memory (tracemalloc)",
                ", ".join(f"{size['rows']:,} rows: {size['peak_mib']:.1f} MiB" for size in sizes),
                "constant in file size" if parsing["memory_constant"] else "GROWS with file size",
            ),
        ]
    cold = results.get("cold_start")
    if cold is not None:
        boto3_s = cold["boto3_s"]
        for module, seconds in cold["modules_s"].items():
            ratio = cold_import_ratio(cold, module, seconds)
            rows.append(
                (
                    f"5. cold import {module}",
                    _seconds(seconds),
                    f"import boto3 {_seconds(boto3_s)} "
                    f"(ratio {ratio:.2f}; target <= {MAX_COLD_IMPORT_RATIO})",
                )
            )
    rows += sweep_rows(results)
    rows += throughput_rows(results)
    return rows


def format_table(rows: Sequence[tuple[str, str, str]]) -> str:
    """A Markdown table (it reads as plain text too), so docs and the README can take it as printed."""
    header = ("figure", "measured", "baseline / target")
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(3)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(header), line(["-" * width for width in widths]), *(line(row) for row in rows)])


# ---- results.json -----------------------------------------------------------------------------------------

_NUMBER: Final = {"type": "number", "minimum": 0}
_COUNT: Final = {"type": "integer", "minimum": 0}

RESULTS_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": [
        "schema_version",
        "date",
        "machine",
        "total_s",
        "rate_limit_per_s",
        "targets_missed",
        "cost",
    ],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"},
        "machine": {
            "type": "object",
            "required": ["system", "release", "machine", "cpu_count", "python"],
        },
        "total_s": _NUMBER,
        "rate_limit_per_s": _COUNT,
        "emulator_peak_requests_per_second": _COUNT,
        "targets_missed": {"type": "array", "items": {"type": "string"}},
        "setup": {"type": "object", "required": ["members"]},
        "bulk": {
            "type": "object",
            "required": [
                "members",
                "requests",
                "operations",
                "operations_per_request",
                "peak_requests_per_second",
                "rate_limited_429",
                "rate_limit_per_s",
                "all_profiles_deleted",
                "baseline",
                "request_ratio",
            ],
            "properties": {
                "members": _COUNT,
                "requests": _COUNT,
                "operations": _COUNT,
                "operations_per_request": _NUMBER,
                "peak_requests_per_second": _COUNT,
                "rate_limited_429": _COUNT,
                "baseline": {
                    "type": "object",
                    "required": [
                        "members",
                        "requests",
                        "peak_requests_per_second",
                        "rate_limited_429",
                        "requests_for_all",
                    ],
                },
            },
        },
        "reconcile": {
            "type": "object",
            "required": ["members", "requests", "operations_per_request", "converged"],
        },
        "interactive": {
            "type": "object",
            "required": [
                "changes",
                "latency_p50_s",
                "latency_p95_s",
                "latency_p99_s",
                "requests_per_change",
                "logins",
                "login_members",
                "login_operations",
                "operations_per_1000_logins",
                "batching_window_s",
            ],
        },
        "parsing": {
            "type": "object",
            "required": ["rows", "rows_per_s", "csv_rows_per_s", "ratio_to_csv", "memory", "memory_constant"],
            "properties": {
                "memory": {
                    "type": "array",
                    "minItems": 2,
                    "items": {"type": "object", "required": ["rows", "peak_mib"]},
                }
            },
        },
        "cold_start": {
            "type": "object",
            "required": ["runs", "boto3_s", "modules_s"],
            "properties": {"modules_s": {"type": "object", "additionalProperties": _NUMBER}},
        },
        "sweep": SWEEP_SCHEMA,
        "throughput": THROUGHPUT_SCHEMA,
        # cio_sync_local.bench.cost_report.cost_figures: dollars per million changes and the idle floor.
        "cost": {
            "type": "object",
            "required": ["prices", "mixes", "idle_monthly"],
            "properties": {
                "mixes": {
                    "type": "object",
                    "required": ["interactive", "bulk"],
                    "additionalProperties": {"type": "object", "required": ["usage_per_million", "dollars"]},
                },
                "idle_monthly": {"type": "object", "required": ["total"]},
            },
        },
    },
}


def validate_results(results: Mapping[str, Any]) -> None:
    """Raises jsonschema.ValidationError when results.json would not have the documented shape."""
    jsonschema.validate(dict(results), RESULTS_SCHEMA)
