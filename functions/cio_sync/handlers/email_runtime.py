"""email's composition root: its settings, read once, and the adapters built from them."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import NamedTuple

from cio_sync.adapters.aws import aws_client
from cio_sync.adapters.customerio.app_client import AppClient
from cio_sync.adapters.customerio.preflight import Check, check_app, check_messages, check_placeholder
from cio_sync.adapters.email_idempotency import DynamoSendClaims
from cio_sync.adapters.member_table import MemberRepository
from cio_sync.adapters.sqs import QueueDeadLetters, SqsVisibility
from cio_sync.environment import Environment
from cio_sync.handlers.customerio_settings import (
    ApiSettings,
    app_api_settings,
    customerio_client,
    preflight_deadline,
)
from cio_sync.pipeline.email_consumer import EmailMessages, EmailPorts
from cio_sync.pipeline.redelivery import Redelivery


class EmailSettings(NamedTuple):
    region: str
    member_table: str
    idempotency_table: str  # one claim per intent (`email#` keys)
    email_queue_url: str  # failed messages are handed back to it with a growing visibility timeout
    dead_letter_queue_url: str  # a message's last receive parks it here with its reason
    max_receive_count: int  # equals the queue's maxReceiveCount
    retry_time_scale: float  # < 1 only in the local stack's tests: backoffs run that much faster
    app_api: ApiSettings
    messages: EmailMessages

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> EmailSettings:
        env = Environment(environ)
        return cls(
            region=env.text("AWS_REGION"),
            member_table=env.text("MEMBER_TABLE_NAME"),
            idempotency_table=env.text("IDEMPOTENCY_TABLE_NAME"),
            email_queue_url=env.text("EMAIL_QUEUE_URL"),
            dead_letter_queue_url=env.text("EMAIL_DEAD_LETTER_QUEUE_URL"),
            max_receive_count=env.count("MAX_RECEIVE_COUNT"),
            retry_time_scale=env.number("RETRY_TIME_SCALE", default=1.0),
            app_api=app_api_settings(env),
            messages=EmailMessages(
                identifier_id=env.text("CUSTOMER_IO_APP_IDENTIFIER_ID"),
                forgot_password=env.text("CUSTOMER_IO_FORGOT_PASSWORD_TRANSACTIONAL_MESSAGE_ID"),
                password_updated=env.text("CUSTOMER_IO_PASSWORD_UPDATED_TRANSACTIONAL_MESSAGE_ID"),
            ),
        )


class EmailRuntime(NamedTuple):
    ports: EmailPorts
    preflight: Callable[[], list[Check]]


def build(settings: EmailSettings) -> EmailRuntime:
    app = app_client(settings.app_api)

    def preflight() -> list[Check]:
        if not settings.app_api.enabled:
            return []
        deadline = preflight_deadline()
        messages = settings.messages
        ids = [("forgot_password", messages.forgot_password), ("password_updated", messages.password_updated)]
        return [
            check_app(app, settings.app_api.region, deadline),
            check_placeholder(messages.identifier_id),
            *check_messages(app, ids, deadline),
        ]

    sqs = aws_client("sqs")
    ports = EmailPorts(
        claims=DynamoSendClaims(aws_client("dynamodb"), settings.idempotency_table),
        members=MemberRepository(settings.member_table, region=settings.region),
        sender=app,
        messages=settings.messages,
        dead_letters=QueueDeadLetters(sqs, settings.dead_letter_queue_url),
        redelivery=Redelivery(
            SqsVisibility(sqs, settings.email_queue_url),
            settings.max_receive_count,
            settings.retry_time_scale,
        ),
    )
    return EmailRuntime(ports=ports, preflight=preflight)


def app_client(settings: ApiSettings) -> AppClient:
    return customerio_client(AppClient, settings)
