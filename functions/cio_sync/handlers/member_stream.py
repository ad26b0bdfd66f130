"""Lambda entry point for the member table's stream (partial batch responses by sequence number)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cio_sync.observability import logger, metrics, tracer
from cio_sync.pipeline.member_stream import process_stream_batch
from cio_sync.pipeline.wiring import StreamDeps, stream_deps


def handle(event: dict[str, Any], deps: StreamDeps) -> dict[str, Any]:
    result = process_stream_batch(
        event.get("Records", []),
        deps.members,
        deps.pending,
        deps.queues,
        deps.lanes,
        volatile_window_s=deps.volatile_window_s,
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
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, stream_deps())
