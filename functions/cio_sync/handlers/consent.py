"""Lambda entry point for the consent queue (SQS FIFO, partial batch responses by message id)."""

from __future__ import annotations

from functools import cache
from typing import Any, Final

from cio_sync.handlers.consent_runtime import ConsentRuntime, ConsentSettings, build
from cio_sync.handlers.outcome_metrics import MetricTable, publish_counts
from cio_sync.handlers.sqs_batch import batch_response, inbound_messages
from cio_sync.observability import logger, metrics
from cio_sync.pipeline.consent import DROP_REASONS, ConsentOutcome, process_consent_batch

METRICS: Final[MetricTable] = {
    "applied": ("ConsentApplied",),
    "quarantined": ("ConsentQuarantined",),
    "parked": ("ConsentParked",),
    **{
        f"dropped_{reason}": ("ConsentDropped" + "".join(p.capitalize() for p in reason.split("_")),)
        for reason in DROP_REASONS
    },
}


@cache
def runtime() -> ConsentRuntime:
    """Built once per execution environment, at its first invocation (`runtime.cache_clear()` rebuilds)."""
    return build(ConsentSettings.from_env())


def handle(event: dict[str, Any], context: Any, deps: ConsentRuntime) -> dict[str, Any]:
    messages = inbound_messages(event)
    outcome, failed = process_consent_batch(
        messages,
        members=deps.members,
        dead_letters=deps.dead_letters,
        quarantine=deps.quarantine,
        policy=deps.policy,
    )
    publish_counts(METRICS, counts(outcome))
    return batch_response(messages, failed)


def counts(outcome: ConsentOutcome) -> dict[str, int]:
    dropped = {f"dropped_{reason}": outcome.dropped[reason] for reason in DROP_REASONS}
    return {
        "applied": outcome.applied,
        "quarantined": outcome.quarantined,
        "parked": outcome.parked,
        **dropped,
    }


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, runtime())
