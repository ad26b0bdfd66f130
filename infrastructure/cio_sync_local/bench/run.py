"""`make bench`: request economics on the local stack (moto server, the functions in worker processes, the
Customer.io emulator), and the functions' own throughput measured in process (phase 7).

The emulator's rate limit is set to the configured Track limit for the whole run, so "never above the
limit" is checked by the server that would answer 429, not by the client that paces itself. Phases run one
after another (they share the emulator and two cores), each bounded by a timeout. Wall times on the local
stack measure moto, not cio-sync: none is a figure here.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from boto3.dynamodb.types import TypeSerializer

from cio_sync.adapters.customerio.credentials import Credentials
from cio_sync.adapters.sqs import SqsQueues
from cio_sync.customerio.batch import Delete
from cio_sync.imports.keys import import_id_for, report_key
from cio_sync.imports.plan import PlanLimits
from cio_sync.imports.rows import checked_rows
from cio_sync.members.contract import to_iso, utc_now_iso
from cio_sync.members.subscriptions import web_signup
from cio_sync.pipeline.messages import TRACK_LANES
from cio_sync_cli.member_writes import MemberAdmin
from cio_sync_cli.reconcile import reconcile
from cio_sync_local.bench import cold_import
from cio_sync_local.bench.cold_import import handler_module
from cio_sync_local.bench.cost_report import cost_figures, cost_only, format_cost
from cio_sync_local.bench.doc_table import DOC_PATH, README_PATH, write_docs
from cio_sync_local.bench.planning import measure_planning, synthetic_import_file
from cio_sync_local.bench.report import (
    DEFAULT_RATE_LIMIT,
    SCHEMA_VERSION,
    TrafficWindow,
    format_table,
    machine,
    now_iso,
    percentile,
    table_rows,
    target_misses,
    validate_results,
)
from cio_sync_local.bench.sweep import SweepBenchConfig, SweepBenchFailed, run_sweep_bench
from cio_sync_local.bench.throughput import ROUNDS, throughput
from cio_sync_local.bench.throughput_report import throughput_misses, throughput_rows
from cio_sync_local.bench.track_v1 import TrackV1Client
from cio_sync_local.invariant import check_stack
from cio_sync_local.raw_table import raw_update
from cio_sync_local.stack import APP_API_KEY, SITE_ID, TRACK_API_KEY, LocalStack

RESULTS_PATH: Final = Path("bench/results.json")
HANDLER_MODULES: Final = cold_import.HANDLERS
# moto's speed is not patched (docs/local-stack.md): a 10,000-member import drains in ~7 minutes on a busy
# 2-core machine, so the bound is generous; it stops a stuck run, it measures nothing.
DRAIN_TIMEOUT_S: Final = 1800.0
CHANGE_TIMEOUT_S: Final = 30.0
OFFLINE_TIMEOUT_S: Final = 600.0
POLL_S: Final = 0.005
WRITE_THREADS: Final = 4
DYNAMODB_BATCH: Final = 25
STREAM_BATCHING_WINDOW_S: Final = 1.0  # template.yaml's MaximumBatchingWindowInSeconds for the stream
MIB: Final = 1 << 20
# Peak memory counts as constant when ten times the rows need at most this much more (allocator noise).
MEMORY_GROWTH_ALLOWED: Final = 1.25
PARSE_ROUNDS: Final = 3


class BenchFailed(RuntimeError):
    """The pipeline did something the benchmark cannot measure around (lost rows, a stuck drain)."""


@dataclass(frozen=True)
class BenchConfig:
    members: int = 10_000
    # The baseline runs at the limit (members / limit seconds): 2,000 keeps the whole run under 10 minutes;
    # its peak and 429s are measured on these, its request count is one per member. None: every member.
    baseline_members: int | None = 2_000
    changes: int = 200
    logins: int = 1_000
    login_members: int = 100
    parse_rows: int = 1_000_000
    memory_rows: tuple[int, int] = (100_000, 1_000_000)
    cold_start_runs: int = 13
    rate_limit_per_s: int = DEFAULT_RATE_LIMIT
    overlap_offline: bool = True
    sweep_profiles: int = 100_000  # phase 6 (cio_sync_local.bench.sweep); 0 leaves it out
    throughput_rounds: int = ROUNDS  # phase 7 (cio_sync_local.bench.throughput), best of; 0 leaves it out


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Bench:
    """One local stack, the emulator rate limited at the configured Track limit for the whole run."""

    def __init__(self, stack: LocalStack, config: BenchConfig) -> None:
        self.stack = stack
        self.config = config
        emulator = stack.emulator
        if emulator is None:
            raise BenchFailed("the local stack has no emulator")
        self.emulator = emulator
        self.repo = MemberAdmin(stack.table_name(), endpoint_url=stack.aws_endpoint)
        self.placeholder = stack.environment["CUSTOMER_IO_APP_IDENTIFIER_ID"]
        emulator.set_faults(rate_limit_per_s=config.rate_limit_per_s)

    def traffic(self, since: float, until: float) -> TrafficWindow:
        return TrafficWindow.from_log(self.emulator.state.requests_json(), since, until)

    def profile_count(self, member_ids: Sequence[str]) -> int:
        profiles = self.emulator.state.profiles_json()
        return sum(1 for member_id in member_ids if member_id in profiles)

    def drain(self) -> None:
        self.stack.drain(DRAIN_TIMEOUT_S)

    # -- setup: members who all have profiles

    def create_members(self, count: int) -> tuple[list[str], dict[str, float]]:
        """Sign-ups written straight to the table in batches; the pipeline gives each one a profile."""
        now = utc_now_iso()
        items = [
            web_signup({"email": f"bench{n}@example.org", "first_name": "Bench"}, now) for n in range(count)
        ]
        serializer = TypeSerializer()
        dynamodb = self.stack.client("dynamodb")
        table = self.stack.table_name()

        def write(batch: Sequence[dict[str, Any]]) -> None:
            requests = [
                {"PutRequest": {"Item": {k: serializer.serialize(v) for k, v in item.items()}}}
                for item in batch
            ]
            pending: dict[str, Any] = {table: requests}
            for _ in range(20):
                pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems", {})
                if not pending:
                    return
                time.sleep(0.05)
            raise BenchFailed("DynamoDB kept items unprocessed")

        batches = [items[start : start + DYNAMODB_BATCH] for start in range(0, count, DYNAMODB_BATCH)]
        with ThreadPoolExecutor(WRITE_THREADS) as pool:
            list(pool.map(write, batches))
        self.drain()
        ids = [item["id"] for item in items]
        if self.profile_count(ids) != count:
            raise BenchFailed("not every bench member got a profile")
        return ids, {"members": count}

    # -- 2. reconcile

    def reconcile(self, ids: Sequence[str]) -> dict[str, Any]:
        publisher = SqsQueues(self.stack.client("sqs"), self.stack.queue_url("TrackQueue"), None)
        since = time.time()
        summary = reconcile(ids, publisher, run_id=f"bench-{int(since)}", lanes=TRACK_LANES)
        self.drain()
        window = self.traffic(since, time.time())
        if not summary.complete:
            raise BenchFailed("reconcile could not queue every member")
        problems = check_stack(
            self.stack.client("dynamodb"),
            self.stack.table_name(),
            self.stack.emulator_url,
            ignore_profiles={self.placeholder},
        )
        return {
            "members": summary.members,
            "messages": summary.messages,
            "requests": window.requests,
            "operations": window.operations,
            "operations_per_request": round(window.operations_per_request, 2),
            "peak_requests_per_second": window.peak_per_second,
            "rate_limited_429": window.rate_limited,
            "rate_limit_per_s": self.config.rate_limit_per_s,
            "converged": not problems,
            "violations": len(problems),
        }

    # -- 1. bulk mute import, then Northstar's one-request-per-member baseline

    def bulk_import(self, ids: Sequence[str]) -> dict[str, Any]:
        s3 = self.stack.client("s3")
        bucket = self.stack.bucket_name()
        key = f"mute-promotions/bench-{len(ids)}-{int(time.time())}.csv"
        body = ("northstar_id\n" + "\n".join(ids) + "\n").encode()
        since = time.time()
        etag = s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
        self.drain()
        window = self.traffic(since, time.time())
        report = json.loads(
            s3.get_object(Bucket=bucket, Key=report_key(import_id_for(bucket, key, etag)))["Body"].read()
        )
        if report["status"] != "completed" or report["counts"].get("muted") != len(ids):
            raise BenchFailed(f"the import did not mute every member: {report['status']} {report['counts']}")
        return {
            "members": len(ids),
            "requests": window.requests,
            "operations": window.operations,
            "operations_per_request": round(window.operations_per_request, 2),
            "peak_requests_per_second": window.peak_per_second,
            "rate_limited_429": window.rate_limited,
            "requests_by_status": window.by_status,
            "rate_limit_per_s": self.config.rate_limit_per_s,
            "all_profiles_deleted": self.profile_count(ids) == 0,
        }

    def baseline(self, ids: Sequence[str]) -> dict[str, Any]:
        """One v1 DELETE per member from one client paced at the limit, as Northstar's jobs sent them: its
        peak and 429s are measured on `baseline_members`; its request count is one per member by design."""
        chosen = ids[: self.config.baseline_members] if self.config.baseline_members else ids
        client = TrackV1Client(
            Credentials(SITE_ID, TRACK_API_KEY, APP_API_KEY),
            base_url=self.stack.emulator_url,
            rate_per_s=self.config.rate_limit_per_s,
        )
        since = time.time()
        for member_id in chosen:
            client.delete(Delete(member_id))
        window = self.traffic(since, time.time())
        return {
            "members": len(chosen),
            "requests": window.requests,
            "peak_requests_per_second": window.peak_per_second,
            "rate_limited_429": window.rate_limited,
            "requests_for_all": len(ids),  # exact: one request per member by construction
        }

    # -- 3. interactive

    def interactive(self) -> dict[str, Any]:
        """Single attribute changes one at a time: write -> the emulator receiving the request."""
        members = [
            self.repo.create_web_signup({"email": f"solo{n}@example.org", "first_name": "Solo"})["id"]
            for n in range(10)
        ]
        self.drain()
        latencies: list[float] = []
        since = time.time()
        for number in range(self.config.changes):
            member_id = members[number % len(members)]
            name = f"Solo{number}"
            written_at = time.time()
            self.repo.update(member_id, {"first_name": name})
            received_at = self._wait_for_change(member_id, name, written_at)
            latencies.append(received_at - written_at)
        self.drain()
        changes_window = self.traffic(since, time.time())
        logins = self.logins()
        return {
            "changes": self.config.changes,
            "latency_p50_s": round(percentile(latencies, 0.5), 4),
            "latency_p95_s": round(percentile(latencies, 0.95), 4),
            "latency_p99_s": round(percentile(latencies, 0.99), 4),
            "latency_max_s": round(max(latencies), 4),
            "requests": changes_window.requests,
            "requests_per_change": changes_window.requests / self.config.changes,
            **logins,
            "batching_window_s": STREAM_BATCHING_WINDOW_S,
        }

    def logins(self) -> dict[str, Any]:
        """What real traffic costs: a login writes `last_authenticated_at` and `updated_at` (both in the
        payload), as the auth service does, spread over members who log in several times a day."""
        members = [
            self.repo.create_web_signup({"email": f"login{n}@example.org", "first_name": "Login"})["id"]
            for n in range(self.config.login_members)
        ]
        self.drain()
        day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        since = time.time()
        for number in range(self.config.logins):
            # Logins through one day (every 1,000th of it), so the window's boundary falls where it falls.
            moment = to_iso(day + timedelta(seconds=86_400 * number / self.config.logins))
            self._raw_write(
                members[number % len(members)], {"last_authenticated_at": moment, "updated_at": moment}
            )
        self.drain()
        window = self.traffic(since, time.time())
        return {
            "logins": self.config.logins,
            "login_members": self.config.login_members,
            "login_requests": window.requests,
            "login_operations": window.operations,
            "operations_per_1000_logins": round(window.operations * 1000 / self.config.logins, 1),
        }

    def _raw_write(self, member_id: str, changes: Mapping[str, Any]) -> None:
        raw_update(
            self.stack.client("dynamodb"), self.stack.table_name(), member_id, dict(sorted(changes.items()))
        )

    def _wait_for_change(self, member_id: str, name: str, written_at: float) -> float:
        """When the emulator logged the request that carried the new value (its own clock)."""
        deadline = time.monotonic() + CHANGE_TIMEOUT_S
        while time.monotonic() < deadline:
            profile = self.emulator.state.profile(member_id)
            if profile is not None and profile.attributes.get("first_name") == name:
                served = [
                    float(record["time"])
                    for record in self.emulator.state.requests_json()
                    if float(record["time"]) >= written_at and int(record["status"]) in (200, 207)
                ]
                if served:
                    return max(served)
            time.sleep(POLL_S)
        raise BenchFailed(f"member {member_id}'s change reached no request in {CHANGE_TIMEOUT_S:g} s")


# ---- 4. parsing, 5. cold start (no stack) ----------------------------------------------------------------


def _file_pieces(path: Path, size: int = MIB) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while piece := handle.read(size):
            yield piece


def parse_rates(path: Path, rounds: int = PARSE_ROUNDS) -> tuple[tuple[float, int], tuple[float, int]]:
    """(seconds, rows) of the import's parse + validate and of the csv module over the same file: the
    best of `rounds` alternated runs each, so a busy moment on a shared machine slows neither alone."""
    ours: list[tuple[float, int]] = []
    theirs: list[tuple[float, int]] = []
    for _ in range(rounds):
        started = time.perf_counter()
        parsed = sum(1 for _ in checked_rows(_file_pieces(path), PlanLimits(max_bytes=1 << 40).max_bytes))
        ours.append((time.perf_counter() - started, parsed))
        started = time.perf_counter()
        with path.open(encoding="utf-8", newline="") as handle:
            read = sum(1 for _ in csv.reader(handle)) - 1
        theirs.append((time.perf_counter() - started, read))
    return min(ours), min(theirs)


def parsing(config: BenchConfig) -> dict[str, Any]:
    """The import's parse + validate pass against the csv module reading the same file from disk."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "mute.csv"
        with path.open("wb") as handle:
            for block in synthetic_import_file(config.parse_rows):
                handle.write(block)
        (ours, parsed), (theirs, read) = parse_rates(path)
        file_bytes = path.stat().st_size
    if parsed != config.parse_rows or read != config.parse_rows:
        raise BenchFailed(f"parsing counted {parsed} rows and csv {read}, not {config.parse_rows}")
    planning = measure_planning(config.parse_rows)
    memory = []
    for rows in config.memory_rows:
        measured = measure_planning(rows, trace_memory=True)
        memory.append({"rows": rows, "peak_mib": round((measured.peak_traced_bytes or 0) / MIB, 2)})
    return {
        "rows": config.parse_rows,
        "file_mib": round(file_bytes / MIB, 1),
        "rows_per_s": round(config.parse_rows / ours),
        "csv_rows_per_s": round(config.parse_rows / theirs),
        "ratio_to_csv": round(theirs / ours, 3),
        "planning_both_passes_rows_per_s": round(planning.rows_per_second),
        "memory": memory,
        "memory_constant": memory[-1]["peak_mib"] <= memory[0]["peak_mib"] * MEMORY_GROWTH_ALLOWED,
    }


def cold_start(config: BenchConfig) -> dict[str, Any]:
    """Median wall time of importing each handler module in a fresh interpreter, each after an `import
    boto3` of its own, and each one's median ratio to its boto3 (cio_sync_local.bench.cold_import)."""
    runs = config.cold_start_runs
    modules = [handler_module(name) for name in HANDLER_MODULES]
    medians, ratios = cold_import.alternated_ratios(modules, runs)
    boto3_s = medians.pop("boto3")
    return {
        "runs": runs,
        "boto3_s": round(boto3_s, 4),
        "modules_s": {module: round(seconds, 4) for module, seconds in medians.items()},
        "ratios": {module: round(ratio, 2) for module, ratio in ratios.items()},
        "budget_ratio": cold_import.BUDGET_RATIO,
    }


# ---- the run ----------------------------------------------------------------------------------------------


def timed(label: str, action: Callable[[], Any]) -> Any:
    say(f"bench: {label} ...")
    started = time.perf_counter()
    result = action()
    say(f"bench: {label} done in {time.perf_counter() - started:.1f} s")
    return result


def offline_phases(config: BenchConfig) -> dict[str, Any]:
    """Phase 4, and phase 5 unless `cold_start_runs` is 0 (the overlapped child leaves it to the parent)."""
    phases = {"parsing": parsing(config)}
    if config.cold_start_runs:
        phases["cold_start"] = cold_start(config)
    return phases


def start_offline_child(config: BenchConfig, environment: dict[str, str]) -> subprocess.Popen[str]:
    """Phases 4 and 5 need no stack: a child process runs them on the other core during phase 3, which
    spends its time waiting on the stream's batching window (this keeps the run under 10 minutes)."""
    arguments = [
        "--offline",
        "--parse-rows",
        str(config.parse_rows),
        # Cold starts are timed by the parent once the stack has stopped: phase 3's load would skew the
        # ratio of two process launches more than it skews the parse ratio, measured back to back.
        "--cold-start-runs",
        "0",
    ]
    return subprocess.Popen(  # noqa: S603 - this interpreter, this module
        [sys.executable, "-m", "cio_sync_local.bench", *arguments],
        stdout=subprocess.PIPE,
        text=True,
        env=environment,
    )


def collect_offline_child(child: subprocess.Popen[str]) -> dict[str, Any]:
    output, _ = child.communicate(timeout=OFFLINE_TIMEOUT_S)
    if child.returncode != 0:
        raise BenchFailed(f"the parsing and cold-start phases failed (exit {child.returncode})")
    offline: dict[str, Any] = json.loads(output)
    return offline


def run(config: BenchConfig) -> dict[str, Any]:
    started = time.perf_counter()
    outside_environment = dict(os.environ)
    results: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "date": now_iso(),
        "machine": machine(),
        "rate_limit_per_s": config.rate_limit_per_s,
    }
    environment = {"POWERTOOLS_LOG_LEVEL": "CRITICAL"}
    parameters = {"TrackRatePerSecond": str(config.rate_limit_per_s)}
    with LocalStack(aws_port=0, cio_port=0, parameters=parameters, environment=environment) as stack:
        bench = Bench(stack, config)
        ids, results["setup"] = timed(
            f"setup: {config.members:,} members with profiles", lambda: bench.create_members(config.members)
        )
        results["reconcile"] = timed("2. reconcile", lambda: bench.reconcile(ids))
        bulk = timed("1. bulk mute import", lambda: bench.bulk_import(ids))
        base = timed("1. baseline: one request per member", lambda: bench.baseline(ids))
        bulk["baseline"] = base
        bulk["request_ratio"] = round(base["requests_for_all"] / max(bulk["requests"], 1), 2)
        results["bulk"] = bulk
        child = start_offline_child(config, outside_environment) if config.overlap_offline else None
        results["interactive"] = timed("3. interactive", bench.interactive)
        results["emulator_peak_requests_per_second"] = int(bench.emulator.stats()["peak_requests_per_second"])
    if child is not None:
        results.update(timed("4. parsing (child process)", lambda: collect_offline_child(child)))
        results["cold_start"] = timed("5. cold start", lambda: cold_start(config))
        results["offline_phases_overlapped_interactive"] = True
    else:
        results.update(timed("4-5. parsing and cold start", lambda: offline_phases(config)))
        results["offline_phases_overlapped_interactive"] = False
    if config.sweep_profiles:
        sweep = SweepBenchConfig(
            profiles=config.sweep_profiles, track_rate_limit_per_s=config.rate_limit_per_s
        )
        results["sweep"] = timed(
            f"6. profile sweep of {config.sweep_profiles:,} profiles", lambda: run_sweep_bench(sweep)
        )
    if config.throughput_rounds:
        results["throughput"] = timed(
            "7. in-process throughput", lambda: throughput(config.throughput_rounds)
        )
    results["cost"] = timed("8. cost per million changes", cost_figures)
    results["total_s"] = round(time.perf_counter() - started, 1)
    results["targets_missed"] = target_misses(results)
    validate_results(results)
    return results


def throughput_only() -> int:
    figures = {"throughput": throughput()}
    print(format_table(throughput_rows(figures)))
    for miss in throughput_misses(figures):
        say(f"TARGET MISSED: {miss}")
    return 1 if throughput_misses(figures) else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cio_sync_local.bench", description=__doc__)
    parser.add_argument("--members", type=int, default=BenchConfig.members)
    parser.add_argument(
        "--baseline-members",
        type=int,
        default=BenchConfig.baseline_members,
        help="baseline (peak, 429s) on this many members (0: all of them)",
    )
    parser.add_argument("--changes", type=int, default=BenchConfig.changes)
    parser.add_argument("--parse-rows", type=int, default=BenchConfig.parse_rows)
    parser.add_argument("--cold-start-runs", type=int, default=BenchConfig.cold_start_runs)
    parser.add_argument(
        "--sequential", action="store_true", help="run phases 4-5 after phase 3, not beside it (slower)"
    )
    parser.add_argument("--offline", action="store_true", help="phases 4-5 only, JSON on stdout")
    parser.add_argument(
        "--sweep-profiles",
        type=int,
        default=BenchConfig.sweep_profiles,
        help="phase 6: sweep a workspace of this many profiles, 10%% orphans (0: leave it out)",
    )
    parser.add_argument(
        "--throughput-only",
        action="store_true",
        help="phase 7 alone: print its table, exit 1 on a missed target; writes no results.json",
    )
    parser.add_argument(
        "--cost-only", action="store_true", help="dollars per million changes and the idle floor (no stack)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS_PATH)
    parser.add_argument("--doc", type=Path, default=DOC_PATH, help="the doc whose bench table is rewritten")
    parser.add_argument("--readme", type=Path, default=README_PATH, help="headlines rewritten here")
    args = parser.parse_args(argv)
    if args.throughput_only:
        return throughput_only()
    if args.cost_only:
        return cost_only()
    config = BenchConfig(
        members=args.members,
        baseline_members=args.baseline_members or None,
        changes=args.changes,
        parse_rows=args.parse_rows,
        memory_rows=(args.parse_rows // 10, args.parse_rows),
        cold_start_runs=args.cold_start_runs,
        overlap_offline=not args.sequential,
        sweep_profiles=args.sweep_profiles,
    )
    if args.offline:
        print(json.dumps(offline_phases(config)))
        return 0
    try:
        # Powertools writes its metrics to stdout (CloudWatch's format); stdout is for the table.
        with open(os.devnull, "w", encoding="utf-8") as null, contextlib.redirect_stdout(null):
            results = run(config)
    except (BenchFailed, SweepBenchFailed, TimeoutError, subprocess.SubprocessError) as error:
        say(f"bench FAILED: {error}")
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(
        f"cio-sync benchmark, {results['date']}, {results['machine']['cpu_count']} CPUs, "
        f"Python {results['machine']['python']}, total {results['total_s']} s"
    )
    print(format_table(table_rows(results)))
    print()
    print(format_cost(results["cost"]))
    write_docs(results, args.doc, args.readme)
    print(f"written to {args.output}, {args.doc} and {args.readme}")
    if results["targets_missed"]:
        for miss in results["targets_missed"]:
            say(f"TARGET MISSED: {miss}")
        return 1
    return 0
