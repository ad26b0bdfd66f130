"""Lambda entry point for the member table's stream (partial batch responses by sequence number)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cio_sync.handlers.member_stream_budget import budget_from
from cio_sync.handlers.member_stream_runtime import MemberStreamRuntime, MemberStreamSettings, build
from cio_sync.observability import logger, metrics
from cio_sync.pipeline.member_stream import process_stream_batch
from cio_sync.pipeline.record_budget import RecordBudget


@cache
def runtime() -> MemberStreamRuntime:
    """Built once per execution environment, at its first invocation (`runtime.cache_clear()` rebuilds)."""
    return build(MemberStreamSettings.from_env())


def handle(
    event: dict[str, Any], deps: MemberStreamRuntime, budget: RecordBudget | None = None
) -> dict[str, Any]:
    result = process_stream_batch(
        event.get("Records", []),
        deps.writer,
        deps.pending,
        deps.publisher,
        deps.lanes,
        volatile_window_s=deps.volatile_window_s,
        budget=budget,
    )
    metrics.add_metric("IntentsPublished", MetricUnit.Count, result.intents)
    metrics.add_metric("RuleDecisionsWritten", MetricUnit.Count, result.rule_decisions_written)
    metrics.add_metric("RuleDecisionsCarried", MetricUnit.Count, result.decisions_carried)
    metrics.add_metric("OptOutsAssumed", MetricUnit.Count, result.opt_outs_assumed)
    metrics.add_metric("ContractViolations", MetricUnit.Count, result.contract_violations)
    metrics.add_metric("StreamRecordsParked", MetricUnit.Count, result.malformed + result.contract_violations)
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in result.failed_sequence_numbers]}


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, runtime(), budget_from(context))
