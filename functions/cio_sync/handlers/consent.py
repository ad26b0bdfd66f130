"""Lambda entry point for the consent queue (SQS FIFO, partial batch responses by message id)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cio_sync.handlers.consent_runtime import ConsentRuntime, ConsentSettings, build
from cio_sync.handlers.sqs_batch import EveryRecordFailed, inbound_messages
from cio_sync.observability import logger, metrics
from cio_sync.pipeline.consent import process_consent_batch

DROP_REASONS = ("echo", "unchanged", "placeholder", "not_a_member", "deleted", "ignored")


@cache
def runtime() -> ConsentRuntime:
    """Built once per execution environment, at its first invocation (`runtime.cache_clear()` rebuilds)."""
    return build(ConsentSettings.from_env())


def handle(event: dict[str, Any], deps: ConsentRuntime) -> dict[str, Any]:
    messages = inbound_messages(event)
    outcome, failed = process_consent_batch(
        messages,
        members=deps.members,
        dead_letters=deps.dead_letters,
        quarantine=deps.quarantine,
        policy=deps.policy,
    )
    metrics.add_metric("ConsentApplied", MetricUnit.Count, outcome.applied)
    metrics.add_metric("ConsentQuarantined", MetricUnit.Count, outcome.quarantined)
    metrics.add_metric("ConsentParked", MetricUnit.Count, outcome.parked)
    for reason in DROP_REASONS:
        metrics.add_metric(
            "ConsentDropped" + "".join(p.capitalize() for p in reason.split("_")),
            MetricUnit.Count,
            outcome.dropped[reason],
        )
    if messages and len(failed) == len(messages):
        raise EveryRecordFailed(f"all {len(messages)} records failed")
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, runtime())
