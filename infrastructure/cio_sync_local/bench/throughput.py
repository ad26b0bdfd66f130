"""The product's own throughput: member-stream, track and import-chunk run in this process on fakes.

What the local stack's wall clock shows is mostly moto and the pump; this measures only cio-sync's code:
CPU per record and records per CPU-second (`time.process_time`, every thread of the process) from the event
as Lambda's runtime hands it over (JSON text, parsed here as the runtime parses it) to the calls on the
ports (bench/fakes.py, which do no work of their own). Reading a member from DynamoDB is the table's and
the SDK's work and is not measured; the track function gets its items as they come back from a read.

Items: a realistic member (~0.7 KB) and padded ones, whose free text (names, city, state, zip: the fields
whose every byte the functions process, stripping HTML before truncating) carries the rest: 1, 10 and
100 KB for the linearity check, and ~390 KB, near DynamoDB's 400 KB item limit, as the maximal item.
A batch is what the event source mapping delivers: up to its BatchSize, and for the stream no more records
than fit Lambda's 6 MB event.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, Final

from boto3.dynamodb.types import TypeSerializer

from cio_sync.adapters.customerio.credentials import Credentials
from cio_sync.adapters.customerio.track_client import TrackClient
from cio_sync.handlers import import_chunk, member_stream, track
from cio_sync.handlers.import_chunk_runtime import ImportChunkRuntime
from cio_sync.handlers.member_stream_runtime import MemberStreamRuntime
from cio_sync.handlers.track_runtime import TrackRuntime
from cio_sync.imports.plan import DEFAULT_CHUNK_ROWS, PlanLimits, plan_import
from cio_sync.imports.report import ImportSource
from cio_sync.members.contract import MemberItem
from cio_sync.observability import logger, metrics
from cio_sync.pipeline.messages import MAX_SYNCS_PER_MESSAGE, TRACK_LANES, pack_bulk
from cio_sync.pipeline.redelivery import Redelivery
from cio_sync.sync.intents import SyncProfile, deterministic_event_id
from cio_sync_local.bench import fakes
from cio_sync_local.member_factory import numbered_member

KB: Final = 1000
REALISTIC: Final = "realistic"
MAXIMAL_BYTES: Final = 390 * KB
LINEARITY_SIZES_KB: Final = (1, 10, 100)
LAMBDA_EVENT_BYTES: Final = 6 * 1000 * 1000
STREAM_BATCH: Final = 1000  # template.yaml's BatchSize for the stream mapping
SQS_BATCH: Final = 10  # ... and for the track queue
# Each measure handles about this much item text (at least MIN_RECORDS, at most MAX_RECORDS records), so
# the small items are timed over enough records and the large ones do not take minutes.
MEASURED_BYTES: Final = 10 * 1000 * 1000
MIN_RECORDS: Final = 20
MAX_RECORDS: Final = 2000
ROUNDS: Final = 3
FREE_TEXT: Final = ("first_name", "last_name", "addr_city", "addr_state", "addr_zip")
FILLER: Final = "Lorem ipsum <b>dolor</b> sit amet &amp; consectetur, adipiscing elit. "
CREATED_S: Final = 1_790_000_000
_SERIALIZER: Final = TypeSerializer()


def base_member(number: int) -> MemberItem:
    """The tests' member as sign-up and auth leave it, with both email topics of the subscription centre."""
    return numbered_member(
        number,
        email_subscription_topics=["community", "news"],
        last_authenticated_at="2026-11-20T08:00:00.000000Z",
    )


def item_bytes(item: MemberItem) -> int:
    """The item's size as DynamoDB counts it, near enough: its attribute names and values."""
    return len(json.dumps(item, separators=(",", ":")).encode())


def fillers(size: int | None) -> dict[str, str]:
    """Free text that brings a member to `size` bytes (None: the realistic member, no filler)."""
    if size is None:
        return {}
    missing = max(0, size - item_bytes(base_member(0)))
    each = missing // len(FREE_TEXT)
    text = (FILLER * (each // len(FILLER) + 1))[:each]
    return dict.fromkeys(FREE_TEXT, text)


def members(count: int, size: int | None) -> dict[str, MemberItem]:
    """`count` members of `size` bytes; their filler strings are shared (read only), to spare memory."""
    filler = fillers(size)
    return {item["id"]: item for item in ({**base_member(n), **filler} for n in range(count))}


def records_for(size: int) -> int:
    return max(MIN_RECORDS, min(MAX_RECORDS, MEASURED_BYTES // size))


# ---- events as Lambda delivers them ---------------------------------------------------------------


def stream_record(number: int, old: MemberItem, new: MemberItem) -> dict[str, Any]:
    sequence = f"{number + 1:021d}"
    return {
        "eventID": f"bench-{sequence}",
        "eventName": "MODIFY",
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "ApproximateCreationDateTime": CREATED_S + number,
            "Keys": {"id": {"S": old["id"]}},
            "SequenceNumber": sequence,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
            "OldImage": {name: _SERIALIZER.serialize(value) for name, value in old.items()},
            "NewImage": {name: _SERIALIZER.serialize(value) for name, value in new.items()},
        },
    }


def stream_events(count: int, size: int | None) -> list[str]:
    """Batches of first-name changes (each one due to Customer.io), as JSON texts of at most 6 MB."""
    events: list[str] = []
    batch: list[str] = []
    length = 0
    for number, old in enumerate(members(count, size).values()):
        new = {
            **old,
            "first_name": f"Changed{number} {old['first_name']}",
            "updated_at": "2026-11-26T16:00:00Z",
        }
        text = json.dumps(stream_record(number, old, new))
        if batch and (len(batch) == STREAM_BATCH or length + len(text) > LAMBDA_EVENT_BYTES):
            events.append('{"Records":[' + ",".join(batch) + "]}")
            batch, length = [], 0
        batch.append(text)
        length += len(text) + 1
    events.append('{"Records":[' + ",".join(batch) + "]}")
    return events


def track_events(ids: Sequence[str]) -> list[str]:
    """Sync intents packed as reconcile and the stream pack them, ten messages an invocation."""
    syncs = [
        SyncProfile(deterministic_event_id(f"bench/{n}", CREATED_S * 1000), i) for n, i in enumerate(ids)
    ]
    records = [
        {
            "messageId": f"bench-{number}",
            "receiptHandle": f"receipt-{number}",
            "body": message.body(),
            "attributes": {"MessageGroupId": message.lane, "ApproximateReceiveCount": "1"},
        }
        for number, message in enumerate(pack_bulk(syncs, TRACK_LANES))
    ]
    return [
        json.dumps({"Records": records[start : start + SQS_BATCH]})
        for start in range(0, len(records), SQS_BATCH)
    ]


# ---- the measure ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    records: int
    cpu_s: float

    def as_dict(self, size: int) -> dict[str, Any]:
        """Records per second of CPU (one core's worth): the wall clock of a shared machine is noise."""
        return {
            "item_bytes": size,
            "records": self.records,
            "records_per_s": round(self.records / self.cpu_s),
            "cpu_us_per_record": round(self.cpu_s * 1e6 / self.records, 1),
        }


Prepared = tuple[int, list[Callable[[], object]]]  # records, and one call per invocation


def timed_best(prepare: Callable[[], Prepared], rounds: int = ROUNDS) -> Measured:
    """The round with the least CPU: a busy moment on a shared machine slows a round, never speeds it."""
    best: Measured | None = None
    for _ in range(rounds):
        records, calls = prepare()
        gc.collect()
        cpu = time.process_time()
        for call in calls:
            call()
        measured = Measured(records, time.process_time() - cpu)
        if best is None or measured.cpu_s < best.cpu_s:
            best = measured
    assert best is not None
    return best


def invoked(handle: Callable[[dict[str, Any]], dict[str, Any]], text: str) -> Callable[[], object]:
    """One invocation: the runtime's parse of the event, the handler, the metrics flushed at its end."""

    def invoke() -> object:
        answer = handle(json.loads(text))
        if answer.get("batchItemFailures"):
            raise AssertionError("a bench invocation reported failures")
        metrics.flush_metrics()
        return answer

    return invoke


def prepare_member_stream(size: int | None, count: int) -> Prepared:
    deps = MemberStreamRuntime(
        fakes.AcceptingWriter(), fakes.NoPending(), fakes.CountingPublisher(), volatile_window_s=86_400
    )
    events = stream_events(count, size)
    return count, [invoked(lambda event: member_stream.handle(event, None, deps), text) for text in events]


def prepare_track(size: int | None, count: int, pool: fakes.AcceptingPool | None = None) -> Prepared:
    items = members(count, size)
    clock = fakes.StillClock()
    client = TrackClient(
        Credentials("site", "track-key", "app-key"),
        base_url="https://track.customer.io",
        pool=pool or fakes.AcceptingPool(),
        clock=clock,
        sleep=clock.sleep,
    )
    deps = TrackRuntime(
        fakes.DictReader(items),
        client,
        fakes.NoDeadLetters(),
        Redelivery(fakes.NoVisibility()),
        preflight=list,
        topic_map={"news": 1, "community": 2},  # the subscription centre's topics ride along, as deployed
    )
    events = track_events(list(items))
    return count, [invoked(lambda event: track.handle(event, None, deps), text) for text in events]


def prepare_import_chunk(size: int | None, count: int) -> Prepared:
    """The file is planned before the clock starts; each chunk is one invocation (BatchSize 1)."""
    items = members(count, size)
    store, queue = fakes.MemoryReports(), fakes.ListQueue()
    content = ("northstar_id\n" + "\n".join(items) + "\n").encode()
    source = ImportSource("bench", "mute-promotions/bench.csv", f"etag-{size}-{count}", size=len(content))
    plan_import(
        source,
        lambda: iter([content]),
        store,
        queue,
        limits=PlanLimits(max_bytes=len(content) + 1),
        now=lambda: "2026-11-26T16:00:00.000000Z",
    )
    deps = ImportChunkRuntime(fakes.MuteClaims(items), fakes.DictMembers(items), store)
    events = [
        json.dumps({"Records": [{"messageId": f"chunk-{n}", "body": body, "attributes": {}}]})
        for n, body in enumerate(queue.bodies)
    ]
    return count, [invoked(lambda event: import_chunk.handle(event, None, deps), text) for text in events]


def stream_batch(size: int) -> int:
    """Records in a full stream batch: BatchSize, or what fits the event with both images."""
    return max(1, min(STREAM_BATCH, LAMBDA_EVENT_BYTES // (2 * size)))


@dataclass(frozen=True)
class Function:
    prepare: Callable[[int | None, int], Prepared]
    full_batch: Callable[[int], int]  # records in one invocation's full batch of items of this size
    records: Callable[[int], int] = records_for  # records to time for items of this size


FUNCTIONS: Final = {
    "member_stream": Function(prepare_member_stream, stream_batch),
    "track": Function(prepare_track, lambda size: SQS_BATCH * MAX_SYNCS_PER_MESSAGE),
    # Its work does not grow with the item (it reads and writes flags): whole chunks at every size, so the
    # per-KB figures compare the same work.
    "import_chunk": Function(prepare_import_chunk, lambda size: DEFAULT_CHUNK_ROWS, lambda size: MAX_RECORDS),
}


def measure_function(function: Function, rounds: int = ROUNDS) -> dict[str, Any]:
    """Realistic and maximal items, and CPU per KB at 1, 10 and 100 KB (linear: the ratio stays near 1)."""

    def measured(size: int | None, records: int) -> dict[str, Any]:
        figures = timed_best(lambda: function.prepare(size, records), rounds)
        return figures.as_dict(size or item_bytes(base_member(0)))

    realistic = measured(None, MAX_RECORDS)
    maximal = measured(MAXIMAL_BYTES, function.records(MAXIMAL_BYTES))
    maximal["full_batch_records"] = function.full_batch(MAXIMAL_BYTES)
    maximal["full_batch_cpu_s"] = round(maximal["cpu_us_per_record"] * maximal["full_batch_records"] / 1e6, 2)
    by_size = [measured(kb * KB, function.records(kb * KB)) for kb in LINEARITY_SIZES_KB]
    for kb, row in zip(LINEARITY_SIZES_KB, by_size, strict=True):
        row["cpu_us_per_kb"] = round(row["cpu_us_per_record"] / kb, 2)
    return {
        REALISTIC: realistic,
        "maximal": maximal,
        "by_size": by_size,
        "per_kb_ratio_100_to_10": round(by_size[2]["cpu_us_per_kb"] / by_size[1]["cpu_us_per_kb"], 3),
    }


@contextlib.contextmanager
def logging_to(sink: IO[str]) -> Iterator[IO[str]]:
    """The functions' log lines and EMF metrics, at INFO (template.yaml's default) as in Lambda, to `sink`."""
    handlers = [handler for handler in logger.handlers if isinstance(handler, logging.StreamHandler)]
    level = logger.log_level
    with contextlib.redirect_stdout(sink):
        streams = [handler.setStream(sink) for handler in handlers]
        logger.setLevel("INFO")
        try:
            yield sink
        finally:
            logger.setLevel(level)
            for handler, stream in zip(handlers, streams, strict=True):
                if stream is not None:
                    handler.setStream(stream)


@contextlib.contextmanager
def production_logging() -> Iterator[None]:
    """Log lines and metrics written as in Lambda, to /dev/null: their cost is part of the figure."""
    with open(os.devnull, "w", encoding="utf-8") as null, logging_to(null):
        yield


def throughput(rounds: int = ROUNDS) -> dict[str, Any]:
    """Every function's figures (results.json's `throughput`)."""
    with production_logging():
        return {name: measure_function(function, rounds) for name, function in FUNCTIONS.items()}
