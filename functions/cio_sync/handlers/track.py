"""Lambda entry point for the track queue (SQS FIFO, partial batch responses by message id)."""

from __future__ import annotations

from functools import cache
from typing import Any, Final

from cio_sync.handlers._context import deadline_from
from cio_sync.handlers.customerio_settings import log_preflight
from cio_sync.handlers.outcome_metrics import MetricTable, publish_counts, publish_lags
from cio_sync.handlers.sqs_batch import inbound_messages
from cio_sync.handlers.track_runtime import TrackRuntime, TrackSettings, build
from cio_sync.observability import logger, metrics
from cio_sync.pipeline.track_consumer import process_track_batch

METRICS: Final[MetricTable] = {
    "upserts": ("ProfilesUpserted",),
    "deletes": ("ProfilesDeleted",),
    "events": ("EventsTracked",),
    "dead_lettered": ("DeadLettered",),
    "skipped": ("SkippedIntents",),
}


@cache
def runtime() -> TrackRuntime:
    """Built once per execution environment, at its first invocation (`runtime.cache_clear()` rebuilds),
    which also checks and logs the Customer.io configuration once."""
    built = build(TrackSettings.from_env())
    log_preflight(built.preflight)
    return built


def handle(event: dict[str, Any], context: Any, deps: TrackRuntime) -> dict[str, Any]:
    outcome = process_track_batch(
        inbound_messages(event),
        reader=deps.members,
        sender=deps.sender,
        dead_letters=deps.dead_letters,
        deadline=deadline_from(context),
        redelivery=deps.redelivery,
        topic_map=deps.topic_map,
        clock=deps.clock,
    )
    publish_counts(METRICS, outcome.counts())
    if deps.measures_lag:
        publish_lags(outcome.lags_ms)
    return {
        "batchItemFailures": [{"itemIdentifier": message_id} for message_id in outcome.failed_message_ids]
    }


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, runtime())
