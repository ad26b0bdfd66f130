"""Lambda entry point for the email queue: each message sent at most once, or parked, or retried later."""

from __future__ import annotations

import time
from functools import cache
from typing import Any, Final

from aws_lambda_powertools.metrics import MetricUnit

from cio_sync.handlers._context import deadline_from
from cio_sync.handlers.customerio_settings import log_preflight
from cio_sync.handlers.email_runtime import EmailRuntime, EmailSettings, build
from cio_sync.handlers.sqs_batch import inbound_messages, partial_batch
from cio_sync.observability import logger, metrics
from cio_sync.pipeline.email_consumer import EmailOutcome, consume_email, queued_email
from cio_sync.pipeline.messages import InboundMessage

METRICS: dict[EmailOutcome, tuple[str, ...]] = {
    "sent": ("EmailsSent",),
    "sent_unrecorded": ("EmailsSent", "EmailSentUnrecorded"),
    "already_sent": ("EmailsAlreadySent",),
    "expired": ("EmailsExpired", "DeadLettered"),
    "parked": ("DeadLettered",),
}
# Without a Lambda context (a local call), a claim's lease lasts the function's timeout (template.yaml).
DEFAULT_LEASE_S: Final = 60.0


@cache
def runtime() -> EmailRuntime:
    """Built once per execution environment, at its first invocation (`runtime.cache_clear()` rebuilds),
    which also checks and logs the Customer.io configuration once."""
    built = build(EmailSettings.from_env())
    log_preflight(built.preflight)
    return built


def handle(event: dict[str, Any], context: Any, deps: EmailRuntime) -> dict[str, Any]:
    deadline = deadline_from(context)
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    # A claim is leased until this invocation ends: a receive after that may take it over.
    invocation_end_s = time.time() + (remaining_ms() / 1000 if remaining_ms else DEFAULT_LEASE_S)

    def send(message: InboundMessage) -> None:
        queued = queued_email(message)
        outcome = consume_email(
            queued, deps.ports, now_s=time.time(), lease_until_s=invocation_end_s, deadline=deadline
        )
        for name in METRICS[outcome]:
            metrics.add_metric(name, MetricUnit.Count, 1)

    return partial_batch(inbound_messages(event), send)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, runtime())
