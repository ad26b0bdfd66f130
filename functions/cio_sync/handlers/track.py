"""Lambda entry point for the track queue (SQS FIFO, partial batch responses by message id)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cio_sync.handlers._context import deadline_from
from cio_sync.handlers.customerio_settings import log_preflight
from cio_sync.handlers.sqs_batch import inbound_messages
from cio_sync.handlers.track_runtime import TrackRuntime, TrackSettings, build
from cio_sync.observability import logger, metrics
from cio_sync.pipeline.track_consumer import process_track_batch


@cache
def runtime() -> TrackRuntime:
    """Built once per execution environment, at its first invocation (`runtime.cache_clear()` rebuilds),
    which also checks and logs the Customer.io configuration once."""
    built = build(TrackSettings.from_env())
    log_preflight(built.preflight)
    return built


def handle(event: dict[str, Any], deadline: float | None, deps: TrackRuntime) -> dict[str, Any]:
    outcome = process_track_batch(
        inbound_messages(event),
        reader=deps.members,
        sender=deps.sender,
        dead_letters=deps.dead_letters,
        deadline=deadline,
        redelivery=deps.redelivery,
        topic_map=deps.topic_map,
        clock=deps.clock,
    )
    metrics.add_metric("ProfilesUpserted", MetricUnit.Count, outcome.upserts)
    metrics.add_metric("ProfilesDeleted", MetricUnit.Count, outcome.deletes)
    metrics.add_metric("EventsTracked", MetricUnit.Count, outcome.events)
    metrics.add_metric("DeadLettered", MetricUnit.Count, outcome.dead_lettered)
    metrics.add_metric("SkippedIntents", MetricUnit.Count, sum(outcome.skipped.values()))
    return {
        "batchItemFailures": [{"itemIdentifier": message_id} for message_id in outcome.failed_message_ids]
    }


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, deadline_from(context), runtime())
