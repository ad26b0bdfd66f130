"""Lambda entry point for the import-file queue: each S3 upload notification becomes a planned import."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from cio_sync.imports.plan import plan_import, sources_from_notification
from cio_sync.imports.report import publish_row_metrics
from cio_sync.imports.storage import ImportDeps, import_deps
from cio_sync.members.contract import utc_now_iso
from cio_sync.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)


def plan_uploads(record: SQSRecord, deps: ImportDeps) -> None:
    """Plan every upload the notification names (none for s3:TestEvent); a failure retries the message."""
    if deps.queue is None:
        raise RuntimeError("IMPORT_CHUNK_QUEUE_URL is not configured")
    for source in sources_from_notification(record.body):
        result = plan_import(
            source, deps.uploads.reader(source), deps.store, deps.queue, limits=deps.limits, now=utc_now_iso
        )
        report = result.report
        logger.info(
            "import planned",
            import_id=report.import_id,
            status=report.status,
            reason=report.reason,
            rows=report.rows,
            chunks=report.chunks_total,
            dry_run=report.dry_run,
            already_done=result.already_done,
        )
        if not result.already_done:
            metrics.add_metric(name="ImportsStarted", unit=MetricUnit.Count, value=1)
        if result.newly_rejected:
            metrics.add_metric(name="ImportsRejected", unit=MetricUnit.Count, value=1)
        if result.invalid_rows and not report.dry_run:
            publish_row_metrics({"invalid": result.invalid_rows})
        if result.settlement is not None and result.settlement.finished_now:
            metrics.add_metric(name="ImportsCompleted", unit=MetricUnit.Count, value=1)


def handle(event: dict[str, Any], context: Any, deps: ImportDeps) -> dict[str, Any]:
    response = process_partial_response(
        event=event,
        record_handler=lambda record: plan_uploads(record, deps),
        processor=processor,
        context=context,
    )
    return dict(response)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, import_deps())
