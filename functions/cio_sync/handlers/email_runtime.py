"""email's composition root: its settings, read once, and the adapters built from them."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple

from cio_sync.adapters.aws import aws_client
from cio_sync.adapters.customerio.app_client import AppClient
from cio_sync.adapters.customerio.preflight import Check, check_app, check_messages, check_placeholder
from cio_sync.adapters.email_idempotency import DynamoSendClaims
from cio_sync.adapters.member_table import MemberRepository
from cio_sync.environment import Environment
from cio_sync.handlers.consumer_queue import ConsumerQueue
from cio_sync.handlers.customerio_settings import (
    ApiSettings,
    app_api_settings,
    customerio_client,
    preflight_deadline,
)
from cio_sync.pipeline.email_consumer import EmailMessages, EmailPorts


class EmailSettings(NamedTuple):
    region: str
    member_table: str
    idempotency_table: str  # one claim per intent (`email#` keys)
    queue: ConsumerQueue
    app_api: ApiSettings
    messages: EmailMessages

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> EmailSettings:
        env = Environment(environ)
        return cls(
            region=env.text("AWS_REGION"),
            member_table=env.text("MEMBER_TABLE_NAME"),
            idempotency_table=env.text("IDEMPOTENCY_TABLE_NAME"),
            queue=ConsumerQueue.from_env(env, "EMAIL"),
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
    clock: Callable[[], float] = time.time  # claims' leases, expiry, and the end of the sync lag
    measures_lag: bool = True  # false on a dry-run stack: nothing was sent, so no lag to measure


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
        dead_letters=settings.queue.dead_letters(sqs),
        redelivery=settings.queue.redelivery(sqs),
    )
    return EmailRuntime(ports=ports, preflight=preflight, measures_lag=settings.app_api.enabled)


def app_client(settings: ApiSettings) -> AppClient:
    return customerio_client(AppClient, settings)
