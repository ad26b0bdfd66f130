"""track's composition root: its settings, read once, and the adapters built from them."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple

from cio_sync.adapters.aws import aws_client
from cio_sync.adapters.customerio.preflight import Check, check_track
from cio_sync.adapters.customerio.track_client import TrackClient
from cio_sync.adapters.member_table import MemberRepository
from cio_sync.adapters.sqs import QueueDeadLetters, SqsVisibility
from cio_sync.customerio.reporting import parse_topic_map
from cio_sync.environment import Environment, SettingsError
from cio_sync.handlers.customerio_settings import (
    ApiSettings,
    customerio_client,
    preflight_deadline,
    track_api_settings,
)
from cio_sync.pipeline.batch_isolation import TrackSender
from cio_sync.pipeline.redelivery import DeadLetters, Redelivery
from cio_sync.pipeline.track_consumer import MemberReader


class TrackSettings(NamedTuple):
    region: str
    member_table: str
    track_queue_url: str  # failed messages are handed back to it with a growing visibility timeout
    dead_letter_queue_url: str  # a message's last receive parks it here with its reason
    max_receive_count: int  # equals the queue's maxReceiveCount
    retry_time_scale: float  # < 1 only in the local stack's tests: backoffs run that much faster
    track_api: ApiSettings
    # Email topic -> subscription-centre topic id (`news=1,lifestyle=2`); empty: no centre topics sent.
    email_topic_map: Mapping[str, int]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> TrackSettings:
        env = Environment(environ)
        return cls(
            region=env.text("AWS_REGION"),
            member_table=env.text("MEMBER_TABLE_NAME"),
            track_queue_url=env.text("TRACK_QUEUE_URL"),
            dead_letter_queue_url=env.text("TRACK_DEAD_LETTER_QUEUE_URL"),
            max_receive_count=env.count("MAX_RECEIVE_COUNT"),
            retry_time_scale=env.number("RETRY_TIME_SCALE", default=1.0),
            track_api=track_api_settings(env),
            email_topic_map=_topic_map(env.text_or("EMAIL_TOPIC_MAP", "")),
        )


def _topic_map(text: str) -> dict[str, int]:
    try:
        return parse_topic_map(text)
    except ValueError as error:
        raise SettingsError(f"environment variable EMAIL_TOPIC_MAP: {error}") from error


class TrackRuntime(NamedTuple):
    members: MemberReader
    sender: TrackSender
    dead_letters: DeadLetters
    redelivery: Redelivery
    preflight: Callable[[], list[Check]]
    topic_map: Mapping[str, int]
    clock: Callable[[], float] = time.time  # stamps opt-outs (pipeline/consent_identify.py)


def build(settings: TrackSettings) -> TrackRuntime:
    sqs = aws_client("sqs")
    client = track_client(settings.track_api)

    def preflight() -> list[Check]:
        if not settings.track_api.enabled:
            return []
        return [check_track(client, settings.track_api.region, preflight_deadline())]

    return TrackRuntime(
        members=MemberRepository(settings.member_table, region=settings.region),
        sender=client,
        dead_letters=QueueDeadLetters(sqs, settings.dead_letter_queue_url),
        redelivery=Redelivery(
            SqsVisibility(sqs, settings.track_queue_url),
            settings.max_receive_count,
            settings.retry_time_scale,
        ),
        preflight=preflight,
        topic_map=settings.email_topic_map,
    )


def track_client(settings: ApiSettings) -> TrackClient:
    return customerio_client(TrackClient, settings)
