"""Lambda entry point for the email queue: each message sent at most once, or parked, or retried later."""

from __future__ import annotations

from functools import cache
from typing import Any, Final

from cio_sync.handlers._context import deadline_from
from cio_sync.handlers.customerio_settings import log_preflight
from cio_sync.handlers.email_runtime import EmailRuntime, EmailSettings, build
from cio_sync.handlers.outcome_metrics import MetricTable, publish_counts, publish_lags
from cio_sync.handlers.sqs_batch import inbound_messages, partial_batch
from cio_sync.observability import logger, metrics
from cio_sync.pipeline.email_consumer import consume_email, queued_email
from cio_sync.pipeline.messages import InboundMessage
from cio_sync.sync.intents import sync_lag_ms

METRICS: Final[MetricTable] = {
    "sent": ("EmailsSent",),
    "sent_unrecorded": ("EmailsSent", "EmailSentUnrecorded"),
    "already_sent": ("EmailsAlreadySent",),
    "expired": ("EmailsExpired", "DeadLettered"),
    "parked": ("DeadLettered",),
}
SENT: Final = frozenset({"sent", "sent_unrecorded"})  # Customer.io answered 2xx: the sync lag ends
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
    invocation_end_s = deps.clock() + (remaining_ms() / 1000 if remaining_ms else DEFAULT_LEASE_S)

    def send(message: InboundMessage) -> None:
        queued = queued_email(message)
        outcome = consume_email(
            queued, deps.ports, now_s=deps.clock(), lease_until_s=invocation_end_s, deadline=deadline
        )
        publish_counts(METRICS, {outcome: 1})
        if queued.intent is not None and outcome in SENT and deps.measures_lag:
            publish_lags([sync_lag_ms(queued.intent.intent_id, deps.clock())])

    return partial_batch(inbound_messages(event), send)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, runtime())
