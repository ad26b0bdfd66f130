"""member-stream's composition root: its settings, read once, and the adapters built from them."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from cio_sync.adapters.aws import aws_client
from cio_sync.adapters.member_table import MemberRepository
from cio_sync.adapters.pending_decisions import DynamoPendingDecisions
from cio_sync.adapters.sqs import SqsQueues
from cio_sync.environment import Environment
from cio_sync.handlers.member_stream_budget import budget_from
from cio_sync.pipeline.member_stream import IntentPublisher, PendingDecisions, RuleDecisionWriter
from cio_sync.pipeline.messages import TRACK_LANES
from cio_sync.pipeline.record_budget import RecordBudget


class MemberStreamSettings(NamedTuple):
    region: str
    member_table: str
    idempotency_table: str  # pending rule decisions live there
    track_queue_url: str
    email_queue_url: str
    stream_failure_queue_url: str
    volatile_window_s: int  # a login alone syncs once per window of this many seconds; 0: on every change

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> MemberStreamSettings:
        env = Environment(environ)
        return cls(
            region=env.text("AWS_REGION"),
            member_table=env.text("MEMBER_TABLE_NAME"),
            idempotency_table=env.text("IDEMPOTENCY_TABLE_NAME"),
            track_queue_url=env.text("TRACK_QUEUE_URL"),
            email_queue_url=env.text("EMAIL_QUEUE_URL"),
            stream_failure_queue_url=env.text("STREAM_FAILURE_QUEUE_URL"),
            volatile_window_s=env.whole_seconds("VOLATILE_SYNC_WINDOW_S"),
        )


class MemberStreamRuntime(NamedTuple):
    writer: RuleDecisionWriter
    pending: PendingDecisions
    publisher: IntentPublisher
    volatile_window_s: int
    lanes: int = TRACK_LANES
    budget: Callable[[Any], RecordBudget] = budget_from  # the invocation's time, from Lambda's context


def build(settings: MemberStreamSettings) -> MemberStreamRuntime:
    return MemberStreamRuntime(
        writer=MemberRepository(settings.member_table, region=settings.region),
        pending=DynamoPendingDecisions(aws_client("dynamodb"), settings.idempotency_table),
        publisher=SqsQueues(
            aws_client("sqs"),
            settings.track_queue_url,
            settings.email_queue_url,
            settings.stream_failure_queue_url,
        ),
        volatile_window_s=settings.volatile_window_s,
    )
