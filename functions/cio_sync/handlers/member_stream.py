"""Lambda entry point for the member table's stream (partial batch responses by sequence number)."""

from __future__ import annotations

from functools import cache
from typing import Any, Final

from cio_sync.handlers.member_stream_runtime import MemberStreamRuntime, MemberStreamSettings, build
from cio_sync.handlers.outcome_metrics import MetricTable, publish_counts
from cio_sync.handlers.stream_batch import stream_records
from cio_sync.observability import logger, metrics
from cio_sync.pipeline.member_stream import process_stream_batch

METRICS: Final[MetricTable] = {
    "intents": ("IntentsPublished",),
    "rule_decisions_written": ("RuleDecisionsWritten",),
    "decisions_carried": ("RuleDecisionsCarried",),
    "opt_outs_assumed": ("OptOutsAssumed",),
    "contract_violations": ("ContractViolations", "StreamRecordsParked"),
    "malformed": ("StreamRecordsParked",),
}


@cache
def runtime() -> MemberStreamRuntime:
    """Built once per execution environment, at its first invocation (`runtime.cache_clear()` rebuilds)."""
    return build(MemberStreamSettings.from_env())


def handle(event: dict[str, Any], context: Any, deps: MemberStreamRuntime) -> dict[str, Any]:
    result = process_stream_batch(
        stream_records(event),
        deps.writer,
        deps.pending,
        deps.publisher,
        deps.lanes,
        volatile_window_s=deps.volatile_window_s,
        budget=deps.budget(context),
    )
    publish_counts(METRICS, vars(result))
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in result.failed_sequence_numbers]}


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, runtime())
