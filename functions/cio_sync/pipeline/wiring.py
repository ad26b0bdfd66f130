"""Builds each function's adapters once per process from settings; handlers take them as arguments."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from cio_sync.aws import aws_client
from cio_sync.customerio import clients_from_settings
from cio_sync.customerio.app import AppClient
from cio_sync.customerio.track import TrackClient
from cio_sync.members.model import MemberRepository
from cio_sync.pipeline.messages import TRACK_LANES
from cio_sync.pipeline.pending_decisions import DynamoPendingDecisions
from cio_sync.pipeline.producer import Producer
from cio_sync.pipeline.queues import QueueDeadLetters, SqsQueues, SqsVisibility
from cio_sync.pipeline.redelivery import Redelivery
from cio_sync.settings import Settings, settings


@dataclass(frozen=True)
class StreamDeps:
    members: MemberRepository
    pending: DynamoPendingDecisions
    queues: SqsQueues
    lanes: int
    volatile_window_s: int


@dataclass(frozen=True)
class TrackDeps:
    members: MemberRepository
    track: TrackClient
    dead_letters: QueueDeadLetters
    redelivery: Redelivery


@dataclass(frozen=True)
class EmailDeps:
    members: MemberRepository
    app: AppClient
    dead_letters: QueueDeadLetters
    redelivery: Redelivery
    config: Settings


def _queues(config: Settings) -> SqsQueues:
    return SqsQueues(
        aws_client("sqs"),
        config.track_queue_url,
        config.email_queue_url,
        config.stream_failure_queue_url,
    )


def _members(config: Settings) -> MemberRepository:
    return MemberRepository(config.member_table, endpoint_url=config.aws_endpoint_url)


def _dead_letters(config: Settings, queue_url: str | None, name: str) -> QueueDeadLetters:
    if not queue_url:
        raise RuntimeError(f"{name} is not configured")
    return QueueDeadLetters(_queues(config), queue_url)


def _redelivery(config: Settings, queue_url: str | None, name: str) -> Redelivery:
    if not queue_url:
        raise RuntimeError(f"{name} is not configured")
    visibility = SqsVisibility(aws_client("sqs"), queue_url)
    return Redelivery(visibility, config.max_receive_count, config.retry_time_scale)


@cache
def stream_deps() -> StreamDeps:
    config = settings()
    pending = DynamoPendingDecisions(aws_client("dynamodb"), config.idempotency_table)
    return StreamDeps(_members(config), pending, _queues(config), TRACK_LANES, config.volatile_sync_window_s)


@cache
def track_deps() -> TrackDeps:
    config = settings()
    track, _ = clients_from_settings(config.customer_io)
    return TrackDeps(
        _members(config),
        track,
        _dead_letters(config, config.track_dead_letter_queue_url, "TRACK_DEAD_LETTER_QUEUE_URL"),
        _redelivery(config, config.track_queue_url, "TRACK_QUEUE_URL"),
    )


@cache
def email_deps() -> EmailDeps:
    config = settings()
    _, app = clients_from_settings(config.customer_io)
    return EmailDeps(
        _members(config),
        app,
        _dead_letters(config, config.email_dead_letter_queue_url, "EMAIL_DEAD_LETTER_QUEUE_URL"),
        _redelivery(config, config.email_queue_url, "EMAIL_QUEUE_URL"),
        config,
    )


@cache
def producer() -> Producer:
    """For other services: `producer().request_password_reset(member_id, url)`."""
    config = settings()
    return Producer(_queues(config), TRACK_LANES)
