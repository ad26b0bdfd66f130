"""`make bench`, phase 6: the Customer.io-side sweep of a large workspace, on a local stack of its own.

The workspace holds `profiles` people; a share of them (`orphan_share`, 10% by default) are orphans whose
member is not in the table, the rest belong to eligible members written straight to the table. Profiles
are seeded into the emulator's state (no Customer.io calls).
The member-stream function is held for the whole phase (90,000 sign-ups written straight to the table must
not each be identified first, nor cost the setup a read of 90,000 stream records). Then the profile-sweep
function is invoked as its schedule would (the pump's Lambda context, its 900 s Timeout), and the phase
waits until the track function has deleted every orphan (the event itself, with a generous bound).

Measured from the emulator's request log: App API requests (search), Track requests (the deletes), the
peak App API requests in any sliding second against Customer.io's 10/s, 429s, and the wall time of the
sweep and of the sweep plus the deletes. Checked: every orphan gone, every member's profile kept.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

from boto3.dynamodb.types import TypeSerializer

from cio_sync.members.contract import new_member_id, utc_now_iso
from cio_sync.members.profile import MANAGED_ATTRIBUTE
from cio_sync.members.subscriptions import web_signup
from cio_sync_local.bench.report import TrafficWindow
from cio_sync_local.stack import LocalStack

SWEEP_FUNCTION: Final = "ProfileSweepFunction"
STREAM_FUNCTION: Final = "MemberStreamFunction"
POLL_S: Final = 0.05
APP_LIMIT_PER_S: Final = 10  # Customer.io's App API limit (the emulator enforces it)
WRITE_THREADS: Final = 8
DYNAMODB_BATCH: Final = 25
DRAIN_TIMEOUT_S: Final = 600.0
SEED: Final = 20261130
SCHEDULED_EVENT: Final = {
    "version": "0",
    "id": "bench",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-11-30T06:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {},
}


class SweepBenchFailed(RuntimeError):
    """The sweep did not do what it must (an orphan left, a member's profile deleted, a stopped run)."""


@dataclass(frozen=True)
class SweepBenchConfig:
    profiles: int = 100_000
    orphan_share: float = 0.10
    track_rate_limit_per_s: int = 100


def _wait_until_gone(stack: LocalStack, orphans: Sequence[str], timeout_s: float) -> None:
    emulator = stack.emulator
    assert emulator is not None
    deadline = time.monotonic() + timeout_s
    remaining = list(orphans)
    while time.monotonic() < deadline:
        with emulator.state.lock:
            remaining = [orphan for orphan in remaining if orphan in emulator.state.profiles]
        if not remaining:
            return
        time.sleep(POLL_S)
    raise SweepBenchFailed(f"{len(remaining)} orphan profiles still there after {timeout_s:g} s")


def _write_members(stack: LocalStack, count: int) -> list[str]:
    now = utc_now_iso()
    serializer = TypeSerializer()
    dynamodb = stack.client("dynamodb")
    table = stack.table_name()
    items = [web_signup({"email": f"sweep{n}@example.org", "first_name": "Sweep"}, now) for n in range(count)]

    def write(batch: Sequence[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {
            table: [
                {"PutRequest": {"Item": {k: serializer.serialize(v) for k, v in i.items()}}} for i in batch
            ]
        }
        for _ in range(50):
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems", {})
            if not pending:
                return
            time.sleep(0.05)
        raise SweepBenchFailed("DynamoDB kept items unprocessed")

    batches = [items[start : start + DYNAMODB_BATCH] for start in range(0, count, DYNAMODB_BATCH)]
    with ThreadPoolExecutor(WRITE_THREADS) as pool:
        list(pool.map(write, batches))
    return [str(item["id"]) for item in items]


@contextlib.contextmanager
def _held(stack: LocalStack, function: str) -> Iterator[None]:
    pump = stack.pump
    if pump is None:
        raise SweepBenchFailed("the local stack has no pump")
    with pump.hold(function):
        yield


def run_sweep_bench(config: SweepBenchConfig) -> dict[str, Any]:
    orphans_wanted = round(config.profiles * config.orphan_share)
    members_wanted = config.profiles - orphans_wanted
    parameters = {
        "TrackRatePerSecond": str(config.track_rate_limit_per_s),
        # The brake would (rightly) hold back a run that deletes 10% of a workspace this size.
        "ProfileSweepMaxDeletes": str(max(orphans_wanted, 1)),
    }
    environment = {"POWERTOOLS_LOG_LEVEL": "CRITICAL"}
    with (
        LocalStack(aws_port=0, cio_port=0, parameters=parameters, environment=environment) as stack,
        _held(stack, STREAM_FUNCTION),
    ):
        emulator = stack.emulator
        pump = stack.pump
        if emulator is None or pump is None:
            raise SweepBenchFailed("the local stack has no emulator or pump")
        emulator.set_faults(rate_limit_per_s=config.track_rate_limit_per_s)
        started = time.perf_counter()
        members = _write_members(stack, members_wanted)
        orphans = [new_member_id() for _ in range(orphans_wanted)]
        placeholder = stack.environment["CUSTOMER_IO_APP_IDENTIFIER_ID"]
        # Shuffled (seeded) as a workspace that grew over time: orphans are spread over every page.
        ids = [*members, *orphans]
        random.Random(SEED).shuffle(ids)  # noqa: S311 - a benchmark's layout, not a secret
        # Every profile cio-sync made carries its mark; the sweep deletes no other.
        marked = {"first_name": "Sweep", MANAGED_ATTRIBUTE: True}
        people: list[tuple[str, dict[str, Any]]] = [(person_id, dict(marked)) for person_id in ids]
        people.append((placeholder, {}))
        emulator.state.seed(people)
        setup_s = time.perf_counter() - started

        since = time.time()
        swept_at = time.perf_counter()
        result = stack.invoke(SWEEP_FUNCTION, dict(SCHEDULED_EVENT))
        sweep_s = time.perf_counter() - swept_at
        if result.error is not None:
            raise SweepBenchFailed(f"the sweep failed: {type(result.error).__name__}: {result.error}")
        outcome: dict[str, Any] = result.response
        _wait_until_gone(stack, orphans, DRAIN_TIMEOUT_S)
        total_s = time.perf_counter() - swept_at
        records = emulator.state.requests_json()
        app = TrafficWindow.from_log(
            [r for r in records if str(r["path"]).startswith("/v1/customers")],
            since,
            time.time(),
            track_only=False,
        )
        track = TrafficWindow.from_log(
            [r for r in records if str(r["path"]).startswith("/api/")], since, time.time()
        )
        left = emulator.state.profiles_json()
        orphans_left = sum(1 for orphan in orphans if orphan in left)
        members_kept = sum(1 for member_id in members if member_id in left)
    if not outcome.get("complete") or orphans_left or members_kept != len(members):
        raise SweepBenchFailed(
            f"sweep complete={outcome.get('complete')}, {orphans_left} orphans left, "
            f"{len(members) - members_kept} members' profiles lost"
        )
    return {
        "profiles": len(people),
        "orphans": len(orphans),
        "members": len(members),
        "setup_s": round(setup_s, 1),
        "scanned": outcome["scanned"],
        "pages": outcome["pages"],
        "deletes_queued": outcome["deletes"],
        "app_requests": app.requests,
        "unsubscribed": sum(1 for _, attributes in people if attributes.get("unsubscribed") is True),
        "app_rate_limited_429": app.rate_limited,
        "app_peak_requests_per_second": app.peak_per_second,
        "app_limit_per_s": APP_LIMIT_PER_S,
        "track_requests": track.requests,
        "track_operations": track.operations,
        "track_rate_limited_429": track.rate_limited,
        "sweep_s": round(sweep_s, 3),
        "wall_s": round(total_s, 3),
        "orphans_left": orphans_left,
        "members_kept": members_kept,
    }
