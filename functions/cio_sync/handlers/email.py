"""Lambda entry point for the email queue: each message sent at most once, or parked, or retried later."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cio_sync.handlers._context import deadline_from
from cio_sync.handlers.customerio_settings import log_preflight
from cio_sync.handlers.email_runtime import EmailRuntime, EmailSettings, build
from cio_sync.handlers.sqs_batch import inbound_messages, partial_batch
from cio_sync.observability import logger, metrics
from cio_sync.pipeline.email_consumer import EmailOutcome, consume_email
from cio_sync.pipeline.messages import InboundMessage

METRICS: dict[EmailOutcome, tuple[str, ...]] = {
    "sent": ("EmailsSent",),
    "expired": ("EmailsExpired", "DeadLettered"),
    "parked": ("DeadLettered",),
}


@cache
def runtime() -> EmailRuntime:
    """Built once per execution environment, at its first invocation (`runtime.cache_clear()` rebuilds),
    which also checks and logs the Customer.io configuration once."""
    built = build(EmailSettings.from_env())
    log_preflight(built.preflight())
    return built


def handle(event: dict[str, Any], context: Any, deps: EmailRuntime) -> dict[str, Any]:
    deadline = deadline_from(context)
    deps.send_once.register_lambda_context(context)

    def send(message: InboundMessage) -> None:
        outcome = consume_email(
            message, deps.send_once, deps.dead_letters, deps.redelivery, deadline=deadline
        )
        for name in METRICS[outcome]:
            metrics.add_metric(name, MetricUnit.Count, 1)

    return partial_batch(inbound_messages(event), send)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, runtime())
