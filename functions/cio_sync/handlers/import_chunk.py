"""Lambda entry point for the import-chunk queue (SQS FIFO, BatchSize 1): mute one chunk of rows."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cio_sync.handlers.import_chunk_runtime import ImportChunkRuntime, ImportChunkSettings, build
from cio_sync.handlers.outcome_metrics import publish_row_metrics
from cio_sync.handlers.sqs_batch import inbound_messages, partial_batch
from cio_sync.imports.chunk import parse_chunk_message, process_chunk
from cio_sync.observability import logger, metrics
from cio_sync.pipeline.messages import InboundMessage


@cache
def runtime() -> ImportChunkRuntime:
    """Built once per execution environment, at its first invocation (`runtime.cache_clear()` rebuilds)."""
    return build(ImportChunkSettings.from_env())


def mute_chunk(message: InboundMessage, deps: ImportChunkRuntime) -> None:
    """A failure (DynamoDB, S3) retries the whole chunk, which is safe: see cio_sync.imports.chunk."""
    chunk = parse_chunk_message(message.body)
    result = process_chunk(chunk, deps.claims, deps.members, deps.store, now=deps.now)
    logger.info(
        "import chunk done",
        import_id=chunk.import_id,
        chunk=chunk.chunk,
        rows=result.part.rows,
        counts=dict(result.part.counts),
        replayed=result.replayed,
        dry_run=chunk.dry_run,
    )
    metrics.add_metric(name="ImportChunksDone", unit=MetricUnit.Count, value=1)
    if not result.replayed and not chunk.dry_run:
        publish_row_metrics(result.part.counts)
    if result.settlement.finished_now:
        metrics.add_metric(name="ImportsCompleted", unit=MetricUnit.Count, value=1)


def handle(event: dict[str, Any], context: Any, deps: ImportChunkRuntime) -> dict[str, Any]:
    # FIFO: should a batch ever hold several chunks, those after a failure are returned unprocessed.
    return partial_batch(inbound_messages(event), lambda message: mute_chunk(message, deps), fifo=True)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, runtime())
