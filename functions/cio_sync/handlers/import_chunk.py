"""Lambda entry point for the import-chunk queue (SQS FIFO, BatchSize 1): mute one chunk of rows."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from cio_sync.imports.chunk import parse_chunk_message, process_chunk
from cio_sync.imports.report import publish_row_metrics
from cio_sync.imports.storage import ImportDeps, import_deps
from cio_sync.members.contract import utc_now_iso
from cio_sync.observability import logger, metrics, tracer

# FIFO-aware: should a batch ever hold several chunks, those after a failure are returned unprocessed.
processor = SqsFifoPartialProcessor()


def mute_chunk(record: SQSRecord, deps: ImportDeps) -> None:
    """A failure (DynamoDB, S3) retries the whole chunk, which is safe: see cio_sync.imports.chunk."""
    message = parse_chunk_message(record.body)
    result = process_chunk(message, deps.claims, deps.members, deps.store, now=utc_now_iso)
    logger.info(
        "import chunk done",
        import_id=message.import_id,
        chunk=message.chunk,
        rows=result.part.rows,
        counts=dict(result.part.counts),
        replayed=result.replayed,
        dry_run=message.dry_run,
    )
    metrics.add_metric(name="ImportChunksDone", unit=MetricUnit.Count, value=1)
    if not result.replayed and not message.dry_run:
        publish_row_metrics(result.part.counts)
    if result.settlement.finished_now:
        metrics.add_metric(name="ImportsCompleted", unit=MetricUnit.Count, value=1)


def handle(event: dict[str, Any], context: Any, deps: ImportDeps) -> dict[str, Any]:
    response = process_partial_response(
        event=event,
        record_handler=lambda record: mute_chunk(record, deps),
        processor=processor,
        context=context,
    )
    return dict(response)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, import_deps())
