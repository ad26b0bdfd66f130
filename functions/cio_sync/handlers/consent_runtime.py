"""consent's composition root: its settings, read once, and the adapters built from them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

from cio_sync.adapters.aws import aws_client
from cio_sync.adapters.consent_writes import ConsentWrites
from cio_sync.adapters.sqs import QueueDeadLetters
from cio_sync.customerio.reporting import centre_topic_names, parse_topic_map
from cio_sync.environment import Environment, SettingsError
from cio_sync.pipeline.consent import ConsentPolicy, MemberConsent
from cio_sync.pipeline.redelivery import DeadLetters

BOUNCE_POLICIES = ("record", "unsubscribe")


class ConsentSettings(NamedTuple):
    region: str
    member_table: str
    dead_letter_queue_url: str  # a message that is not a reporting event is parked here at once
    quarantine_queue_url: str  # events received in the quarantine window wait here for an operator
    policy: ConsentPolicy

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ConsentSettings:
        env = Environment(environ)
        topic_map = centre_topic_names(env.parsed("EMAIL_TOPIC_MAP", parse_topic_map))
        start, end = (
            env.text_or(name, "") for name in ("CONSENT_QUARANTINE_START", "CONSENT_QUARANTINE_END")
        )
        return cls(
            region=env.text("AWS_REGION"),
            member_table=env.text("MEMBER_TABLE_NAME"),
            dead_letter_queue_url=env.text("CONSENT_DEAD_LETTER_QUEUE_URL"),
            quarantine_queue_url=env.text("CONSENT_QUARANTINE_QUEUE_URL"),
            policy=ConsentPolicy(
                topic_map=topic_map,
                bounce_unsubscribes=env.choice("BOUNCE_POLICY", BOUNCE_POLICIES) == "unsubscribe",
                quarantine=quarantine_window(start, end),
                placeholder_id=env.text("CUSTOMER_IO_APP_IDENTIFIER_ID"),
            ),
        )


def quarantine_window(start: str, end: str) -> tuple[int, int] | None:
    """Both empty: no window. Otherwise two ISO-8601 times with an offset, start before end."""
    if not start and not end:
        return None
    try:
        begins, ends = (datetime.fromisoformat(text.replace("Z", "+00:00")) for text in (start, end))
        if begins.tzinfo is None or ends.tzinfo is None or begins >= ends:
            raise ValueError
    except ValueError:
        raise SettingsError(
            "environment variables CONSENT_QUARANTINE_START and CONSENT_QUARANTINE_END must be ISO-8601 "
            "times with an offset, the start before the end (or both empty)"
        ) from None
    return int(begins.timestamp()), int(ends.timestamp())


class ConsentRuntime(NamedTuple):
    members: MemberConsent
    dead_letters: DeadLetters
    quarantine: DeadLetters
    policy: ConsentPolicy


def build(settings: ConsentSettings) -> ConsentRuntime:
    sqs = aws_client("sqs")
    return ConsentRuntime(
        members=ConsentWrites(settings.member_table, settings.region),
        dead_letters=QueueDeadLetters(sqs, settings.dead_letter_queue_url),
        quarantine=QueueDeadLetters(sqs, settings.quarantine_queue_url),
        policy=settings.policy,
    )
