"""Lambda entry point for the email queue: one idempotent send per intent id (Powertools idempotency)."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from typing import Any, cast

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from cio_sync.customerio.errors import CustomerIoError
from cio_sync.handlers._context import deadline_from
from cio_sync.observability import logger, metrics, tracer
from cio_sync.pipeline.email import EmailExpired, PermanentEmailFailure, send_transactional
from cio_sync.pipeline.wiring import EmailDeps, email_deps
from cio_sync.settings import settings
from cio_sync.sync.intents import MalformedIntent, SendEmail, parse_intent

# A redelivery within a week never sends a second email.
IDEMPOTENCY_WINDOW_S = 7 * 24 * 3600

processor = BatchProcessor(event_type=EventType.SQS)
# Keyed per member and intent: two members' requests can never suppress each other.
idempotency_config = IdempotencyConfig(
    event_key_jmespath="[member_id, intent_id]", expires_after_seconds=IDEMPOTENCY_WINDOW_S
)

SendOnce = Callable[..., dict[str, Any]]


@cache
def send_once() -> SendOnce:
    """The idempotent send, bound to the idempotency table named in settings (built once per process)."""
    persistence = DynamoDBPersistenceLayer(table_name=settings().idempotency_table)

    def _send(message: dict[str, Any], deps: EmailDeps, deadline: float | None) -> dict[str, Any]:
        intent = parse_intent_as_email(message["body"])
        sent = send_transactional(
            intent, deps.members, deps.app, deps.config.customer_io, deadline=deadline, now_s=time.time()
        )
        return {"delivery_id": sent.delivery_id, "kind": sent.kind}

    once = idempotent_function(
        data_keyword_argument="message", config=idempotency_config, persistence_store=persistence
    )
    return cast(SendOnce, once(_send))


def parse_intent_as_email(body: str) -> SendEmail:
    intent = parse_intent(body)
    if not isinstance(intent, SendEmail):
        raise MalformedIntent(f"email queue got a {type(intent).__name__} intent")
    return intent


def handle_record(record: SQSRecord, deps: EmailDeps, deadline: float | None, send: SendOnce) -> None:
    receives = int(record.attributes.approximate_receive_count or 1)
    try:
        intent = parse_intent_as_email(record.body)
        message = {"intent_id": intent.intent_id, "member_id": intent.member_id, "body": record.body}
        send(message=message, deps=deps, deadline=deadline)
    except EmailExpired as error:
        metrics.add_metric("EmailsExpired", MetricUnit.Count, 1)
        _park(record, deps, str(error))
        return
    except (MalformedIntent, PermanentEmailFailure) as error:
        _park(record, deps, f"{type(error).__name__}: {error}")
        return
    except Exception as error:
        # Customer.io down or misconfigured, an AWS hiccup, a missing secret: it may pass. Come back later
        # (the shared redelivery rule); only the last allowed receive parks, with the reason.
        retryable = not isinstance(error, CustomerIoError) or error.retryable
        if not retryable or deps.redelivery.is_last_receive(receives):
            detail = f"Customer.io: {error}" if isinstance(error, CustomerIoError) else type(error).__name__
            _park(record, deps, detail if not retryable else f"gave up after {receives} receives: {detail}")
            return
        deps.redelivery.come_back_later([(record.receipt_handle, receives)])
        raise
    metrics.add_metric("EmailsSent", MetricUnit.Count, 1)


def _park(record: SQSRecord, deps: EmailDeps, reason: str) -> None:
    logger.error("email dead-lettered", extra={"message_id": record.message_id, "reason": reason})
    metrics.add_metric("DeadLettered", MetricUnit.Count, 1)
    deps.dead_letters.dead_letter(record.body, reason)


def handle(event: dict[str, Any], context: Any, deps: EmailDeps, send: SendOnce) -> dict[str, Any]:
    deadline = deadline_from(context)
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        idempotency_config.register_lambda_context(context)
    return dict(
        process_partial_response(
            event=event,
            record_handler=lambda record: handle_record(record, deps, deadline, send),
            processor=processor,
        )
    )


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, email_deps(), send_once())
