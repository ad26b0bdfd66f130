"""Usage per million member changes, counted: the functions run in this process as in the throughput
measure (their `handle`, events as Lambda delivers them, ports that do no work), for two mixes.

- interactive: one `first_name` change at a time. Each is its own stream batch (the 1 s batching window
  sees one record), its own track message and its own track invocation.
- bulk: changes written in bursts (an import, a reconcile): stream batches of BatchSize records, syncs
  packed as the stream packs them, ten messages a track invocation.

Counted here: invocations, CPU, log bytes (the lines and EMF metrics the functions print), Customer.io
requests (the Track client's, on a pool answering 200), messages sent and their bytes. From the template:
each function's memory, which queues are FIFO, what the idle stack holds. Assumed, and named in the output
(`ASSUMPTIONS`): the waits of an invocation on AWS and Customer.io (the local stack's wall clock measures
moto, not them), Lambda's platform log lines, X-Ray's default rule, and each mix's rate of changes (which
decides how many invocations X-Ray's reservoir traces and how many hours the custom metrics the functions
print, counted from their EMF output, are billed for).
"""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cio_sync.adapters.customerio.credentials import Credentials
from cio_sync.adapters.customerio.track_client import TrackClient
from cio_sync.handlers import member_stream, track
from cio_sync.handlers.member_stream_runtime import MemberStreamRuntime
from cio_sync.handlers.track_runtime import TrackRuntime
from cio_sync.pipeline.messages import TrackMessage
from cio_sync.pipeline.redelivery import Redelivery
from cio_sync_local.bench import fakes
from cio_sync_local.bench.cost import (
    MILLION,
    IdleStack,
    Usage,
    billed_gb_s,
    sqs_requests,
    traced,
    wall_ms,
)
from cio_sync_local.bench.throughput import (
    invoked,
    logging_to,
    members,
    stream_events,
    stream_record,
    track_events,
)

INTERACTIVE_CHANGES: Final = 200
BULK_CHANGES: Final = 5000
BATCH_GET_ITEMS: Final = 100  # BatchGetItem's page
ASSUMPTIONS: Final[Mapping[str, float]] = {
    "customerio_request_ms": 150.0,  # a Track request's round trip from us-east-1
    "dynamodb_call_ms": 8.0,  # one GetItem/BatchGetItem page
    "sqs_call_ms": 15.0,  # one SendMessageBatch
    "platform_log_bytes": 400.0,  # START, END, REPORT and the X-Ray line of each invocation
    "xray_reservoir_per_s": 1.0,  # X-Ray's default rule traces each function's first request a second
    "xray_sampled": 0.05,  # and 5% of the rest
    "interactive_changes_per_s": 1.0,  # a trickle: a million changes in 11.6 days
    "bulk_changes_per_s": 1000.0,  # an import or a reconcile: a million changes in 17 minutes
    "member_item_kb": 1.0,  # a realistic item (~0.7 KB) rounds up to one write unit and one read unit
}


class CountingQueue(fakes.CountingPublisher):
    """The queues, counting messages and bytes as SQS would bill them."""

    def __init__(self) -> None:
        super().__init__()
        self.messages = 0

    def publish_track(self, messages: Sequence[TrackMessage]) -> list[int]:
        self.messages += len(messages)
        return super().publish_track(messages)


@dataclass(frozen=True)
class Counted:
    invocations: int
    cpu_s: float
    log_bytes: int
    metrics: frozenset[str]  # the custom metrics printed as EMF, each as name and dimensions


def run_counted(calls: Sequence[Callable[[], object]]) -> Counted:
    sink = io.StringIO()
    with logging_to(sink):
        cpu = time.process_time()
        for call in calls:
            call()
        spent = time.process_time() - cpu
    output = sink.getvalue()
    return Counted(len(calls), spent, len(output.encode()), emf_metrics(output))


def emf_metrics(output: str) -> frozenset[str]:
    """Each metric an EMF record in `output` publishes: CloudWatch bills a name with its dimensions."""
    found: set[str] = set()
    for line in output.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"].get("CloudWatchMetrics", []):
            for dimensions in directive.get("Dimensions", [[]]):
                named = ",".join(f"{name}={record.get(name)}" for name in sorted(dimensions))
                found.update(f"{metric['Name']}[{named}]" for metric in directive.get("Metrics", []))
    return frozenset(found)


def single_change_events(count: int) -> list[str]:
    """One stream record an event: an interactive change alone in its batching window."""
    events = []
    for number, old in enumerate(members(count, None).values()):
        new = {**old, "first_name": f"Changed{number}", "updated_at": "2026-11-26T16:00:00Z"}
        events.append(json.dumps({"Records": [stream_record(number, old, new)]}))
    return events


def stream_calls(events: Sequence[str], queue: CountingQueue) -> list[Callable[[], object]]:
    deps = MemberStreamRuntime(fakes.AcceptingWriter(), fakes.NoPending(), queue, volatile_window_s=86_400)
    return [invoked(lambda event: member_stream.handle(event, None, deps), text) for text in events]


def track_calls(
    ids: Sequence[str], events: Sequence[str], pool: fakes.AcceptingPool
) -> list[Callable[[], object]]:
    """The track function as throughput.prepare_track builds it, over the given events."""
    items = members(len(ids), None)
    clock = fakes.StillClock()
    client = TrackClient(
        Credentials("site", "track-key", "app-key"),
        base_url="https://track.customer.io",
        pool=pool,
        clock=clock,
        sleep=clock.sleep,
    )
    deps = TrackRuntime(
        fakes.DictReader(items),
        client,
        fakes.NoDeadLetters(),
        Redelivery(fakes.NoVisibility()),
        preflight=list,
        topic_map={"news": 1, "community": 2},
    )
    return [invoked(lambda event: track.handle(event, None, deps), text) for text in events]


@dataclass(frozen=True)
class Memory:
    member_stream_mb: int
    track_mb: int


def mix_usage(bulk: bool, memory: Memory, changes: int) -> tuple[Usage, dict[str, float]]:
    """One mix's usage per million changes, and the counts behind it (per change) for the report."""
    queue, pool = CountingQueue(), fakes.AcceptingPool()
    events = stream_events(changes, None) if bulk else single_change_events(changes)
    stream = run_counted(stream_calls(events, queue))
    ids = sorted(members(changes, None))
    track_texts = track_events(ids) if bulk else [track_events([member_id])[0] for member_id in ids]
    synced = run_counted(track_calls(ids, track_texts, pool))
    sends = sqs_requests(queue.messages, queue.bytes) if bulk else queue.messages
    read_pages = math.ceil(changes / BATCH_GET_ITEMS) if bulk else changes
    stream_wait = sends / stream.invocations * ASSUMPTIONS["sqs_call_ms"]
    track_wait = (
        read_pages * ASSUMPTIONS["dynamodb_call_ms"] + pool.requests * ASSUMPTIONS["customerio_request_ms"]
    ) / synced.invocations
    invocations = stream.invocations + synced.invocations
    duration_s = changes / ASSUMPTIONS["bulk_changes_per_s" if bulk else "interactive_changes_per_s"]
    reservoir, sampled = ASSUMPTIONS["xray_reservoir_per_s"], ASSUMPTIONS["xray_sampled"]
    usage = Usage(
        lambda_requests=invocations,
        lambda_gb_s=billed_gb_s(
            stream.invocations,
            wall_ms(stream.cpu_s / stream.invocations, stream_wait, memory.member_stream_mb),
            memory.member_stream_mb,
        )
        + billed_gb_s(
            synced.invocations,
            wall_ms(synced.cpu_s / synced.invocations, track_wait, memory.track_mb),
            memory.track_mb,
        ),
        # The track queue is FIFO: the stream's sends, and the mapping's receive and delete of each batch.
        sqs_fifo_requests=sends + 2 * synced.invocations,
        dynamodb_write_units=changes * ASSUMPTIONS["member_item_kb"],
        dynamodb_read_units=changes * ASSUMPTIONS["member_item_kb"],  # consistent reads of items <= 4 KB
        log_bytes=stream.log_bytes + synced.log_bytes + invocations * ASSUMPTIONS["platform_log_bytes"],
        xray_traces=traced(stream.invocations, duration_s, reservoir, sampled)
        + traced(synced.invocations, duration_s, reservoir, sampled),
        custom_metric_hours=len(stream.metrics | synced.metrics) * duration_s / 3600,
        customerio_requests=pool.requests,
    )
    counts = {
        "changes": changes,
        "member_stream_invocations": stream.invocations,
        "track_invocations": synced.invocations,
        "track_messages": queue.messages,
        "customerio_requests": pool.requests,
        "cpu_ms_per_change": round((stream.cpu_s + synced.cpu_s) * 1000 / changes, 3),
        "log_bytes_per_change": round(usage.log_bytes / changes),
        "custom_metrics_published": len(stream.metrics | synced.metrics),
    }
    return usage.scaled(MILLION / changes), counts


# ---- the template ------------------------------------------------------------------------------------


def function_memory(template: Mapping[str, Any]) -> Memory:
    default = int(template.get("Globals", {}).get("Function", {}).get("MemorySize", 128))
    resources = template["Resources"]

    def memory(logical_id: str) -> int:
        return int(resources[logical_id]["Properties"].get("MemorySize", default))

    return Memory(memory("MemberStreamFunction"), memory("TrackFunction"))


def idle_stack(template: Mapping[str, Any]) -> IdleStack:
    """What the idle floor prices, counted from the template (secrets: the parameters naming them)."""
    resources: Mapping[str, Any] = template["Resources"]
    kinds = [resource.get("Type") for resource in resources.values()]
    fifo = standard = 0
    for resource in resources.values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in (resource["Properties"].get("Events") or {}).values():
            if event.get("Type") != "SQS":
                continue
            queue = _logical_id(event["Properties"]["Queue"])
            if resources[queue]["Properties"].get("FifoQueue") in (True, "true"):
                fifo += 1
            else:
                standard += 1
    return IdleStack(
        alarms=kinds.count("AWS::CloudWatch::Alarm"),
        dashboards=kinds.count("AWS::CloudWatch::Dashboard"),
        secrets=sum(1 for name in template.get("Parameters", {}) if name.endswith("SecretName")),
        kms_keys=kinds.count("AWS::KMS::Key"),
        sqs_mappings_standard=standard,
        sqs_mappings_fifo=fifo,
    )


def _logical_id(reference: Any) -> str:
    attribute = reference.get("Fn::GetAtt") if isinstance(reference, Mapping) else None
    if isinstance(attribute, list):
        return str(attribute[0])
    if isinstance(attribute, str):
        return attribute.split(".")[0]
    raise ValueError(f"an SQS event names its queue as {reference!r}, not !GetAtt Queue.Arn")
