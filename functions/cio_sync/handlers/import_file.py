"""Lambda entry point for the import-file queue: each S3 upload notification becomes a planned import."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cio_sync.handlers.import_file_runtime import ImportFileRuntime, ImportFileSettings, build
from cio_sync.handlers.outcome_metrics import publish_row_metrics
from cio_sync.handlers.sqs_batch import inbound_messages, partial_batch
from cio_sync.imports.plan import plan_import, sources_from_notification
from cio_sync.members.contract import utc_now_iso
from cio_sync.observability import logger, metrics
from cio_sync.pipeline.messages import InboundMessage


@cache
def runtime() -> ImportFileRuntime:
    """Built once per execution environment, at its first invocation (`runtime.cache_clear()` rebuilds)."""
    return build(ImportFileSettings.from_env())


def plan_uploads(message: InboundMessage, deps: ImportFileRuntime) -> None:
    """Plan every upload the notification names (none for s3:TestEvent); a failure retries the message."""
    for source in sources_from_notification(message.body):
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


def handle(event: dict[str, Any], context: Any, deps: ImportFileRuntime) -> dict[str, Any]:
    return partial_batch(inbound_messages(event), lambda message: plan_uploads(message, deps))


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, runtime())
