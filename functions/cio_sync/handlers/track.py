"""Lambda entry point for the track queue (SQS FIFO, partial batch responses by message id)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import SQSEvent

from cio_sync.handlers._context import deadline_from
from cio_sync.observability import logger, metrics, tracer
from cio_sync.pipeline.track import InboundMessage, process_track_batch
from cio_sync.pipeline.wiring import TrackDeps, track_deps


def handle(event: dict[str, Any], deadline: float | None, deps: TrackDeps) -> dict[str, Any]:
    messages = [
        InboundMessage(
            message_id=record.message_id,
            group_id=record.attributes.message_group_id or "",
            body=record.body,
            receive_count=int(record.attributes.approximate_receive_count or 1),
            receipt_handle=record.receipt_handle,
        )
        for record in SQSEvent(event).records
    ]
    outcome = process_track_batch(
        messages,
        reader=deps.members,
        sender=deps.track,
        dead_letters=deps.dead_letters,
        deadline=deadline,
        redelivery=deps.redelivery,
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
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, deadline_from(context), track_deps())
