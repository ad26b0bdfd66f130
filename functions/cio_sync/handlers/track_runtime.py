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
from cio_sync.customerio.reporting import parse_topic_map
from cio_sync.environment import Environment
from cio_sync.handlers.consumer_queue import ConsumerQueue
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
    queue: ConsumerQueue
    track_api: ApiSettings
    # Email topic -> subscription-centre topic id (`news=1,lifestyle=2`); empty: no centre topics sent.
    email_topic_map: Mapping[str, int]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> TrackSettings:
        env = Environment(environ)
        return cls(
            region=env.text("AWS_REGION"),
            member_table=env.text("MEMBER_TABLE_NAME"),
            queue=ConsumerQueue.from_env(env, "TRACK"),
            track_api=track_api_settings(env),
            email_topic_map=env.parsed("EMAIL_TOPIC_MAP", parse_topic_map),
        )


class TrackRuntime(NamedTuple):
    members: MemberReader
    sender: TrackSender
    dead_letters: DeadLetters
    redelivery: Redelivery
    preflight: Callable[[], list[Check]]
    topic_map: Mapping[str, int]
    clock: Callable[[], float] = time.time  # stamps opt-outs (pipeline/consent_identify.py)
    # A dry-run stack (CUSTOMER_IO_ENABLED=false) sends nothing, so a lag would measure nothing.
    measures_lag: bool = True


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
        dead_letters=settings.queue.dead_letters(sqs),
        redelivery=settings.queue.redelivery(sqs),
        preflight=preflight,
        topic_map=settings.email_topic_map,
        measures_lag=settings.track_api.enabled,
    )


def track_client(settings: ApiSettings) -> TrackClient:
    return customerio_client(TrackClient, settings)
