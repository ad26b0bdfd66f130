"""reporting-webhook's composition root: its settings, read once, and the adapters built from them."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import NamedTuple

from cio_sync.adapters.aws import aws_client
from cio_sync.adapters.consent_queue import SqsConsentQueue
from cio_sync.adapters.signing_key import SecretSigningKey
from cio_sync.environment import Environment
from cio_sync.pipeline.webhook_receiver import ConsentQueue


class ReportingWebhookSettings(NamedTuple):
    consent_queue_url: str
    signing_key_secret_name: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ReportingWebhookSettings:
        env = Environment(environ)
        return cls(
            consent_queue_url=env.text("CONSENT_QUEUE_URL"),
            signing_key_secret_name=env.text("REPORTING_WEBHOOK_SECRET_NAME"),
        )


class ReportingWebhookRuntime(NamedTuple):
    signing_key: Callable[[], bytes]
    queue: ConsentQueue


def build(settings: ReportingWebhookSettings) -> ReportingWebhookRuntime:
    return ReportingWebhookRuntime(
        signing_key=SecretSigningKey(settings.signing_key_secret_name, lambda: aws_client("secretsmanager")),
        queue=SqsConsentQueue(aws_client("sqs"), settings.consent_queue_url),
    )
