"""The product's handlers and flows, wired to the in-memory world: what each function's composition root
builds on AWS, built here from fakes (no sockets, no wall clock where the flow lets us pass a clock)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cio_sync.adapters.customerio.app_client import AppClient
from cio_sync.adapters.customerio.credentials import Credentials
from cio_sync.adapters.customerio.people_client import PeopleClient
from cio_sync.adapters.customerio.track_client import TrackClient
from cio_sync.handlers import email as email_handler
from cio_sync.handlers import import_chunk as import_chunk_handler
from cio_sync.handlers import member_stream as member_stream_handler
from cio_sync.handlers import profile_sweep as profile_sweep_handler
from cio_sync.handlers.email_runtime import EmailRuntime
from cio_sync.handlers.import_chunk_runtime import ImportChunkRuntime
from cio_sync.handlers.member_stream_runtime import MemberStreamRuntime
from cio_sync.handlers.profile_sweep_runtime import ProfileSweepRuntime
from cio_sync.handlers.sqs_batch import EveryRecordFailed
from cio_sync.pipeline.email_consumer import EmailMessages, EmailSent, send_transactional
from cio_sync.pipeline.messages import TRACK_LANES, InboundMessage
from cio_sync.pipeline.redelivery import MAX_RECEIVES, Redelivery
from cio_sync.pipeline.track_consumer import process_track_batch
from cio_sync.sync.intents import SendEmail
from tests.unit.imports.fakes import MemoryStore
from tests.unit.pipeline.fakes import FakePending

from .fake_customerio import FakeCustomerIo
from .world import Clock, LambdaTimeout, Message, Publisher, Queue, SimRepository, Table, TableReader

PLACEHOLDER = "cio-sync-transactional-placeholder"
MESSAGES = EmailMessages(PLACEHOLDER, "forgot_password_message", "password_updated_message")
CREDENTIALS = Credentials(site_id="site", track_api_key="track-key", app_api_key="app-key")
INVOCATION_S = 60.0
IN_PROGRESS_EXPIRY_S = 60.0
IDEMPOTENCY_WINDOW_S = 7 * 24 * 3600


class AlreadyInProgress(Exception):
    """Powertools' IdempotencyAlreadyInProgressError: another invocation holds the record."""


class SaveFailed(Exception):
    """Powertools' IdempotencyPersistenceLayerError on saving the success."""


@dataclass
class IdempotentSends:
    """The email function's `SendOnce` with Powertools idempotency's semantics on its record: in progress
    until the invocation's time is up, completed for the window, deleted when the send raised."""

    clock: Clock
    send: Callable[[SendEmail, float | None], EmailSent]
    records: dict[str, tuple[str, float]] = field(default_factory=dict)
    fail_saves: int = 0

    def register_lambda_context(self, context: Any) -> None:
        return None

    def __call__(self, intent: SendEmail, body: str, deadline: float | None) -> None:
        key = f"{intent.member_id}#{intent.intent_id}"
        held = self.records.get(key)
        if held is not None and held[1] > self.clock.now:
            if held[0] == "COMPLETED":
                return
            raise AlreadyInProgress(key)
        self.records[key] = ("INPROGRESS", self.clock.now + IN_PROGRESS_EXPIRY_S)
        try:
            self.send(intent, deadline)
        except Exception:
            del self.records[key]
            raise
        if self.fail_saves > 0:
            self.fail_saves -= 1
            raise SaveFailed(key)
        self.records[key] = ("COMPLETED", self.clock.now + IDEMPOTENCY_WINDOW_S)


def sqs_event(messages: list[Message]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message.message_id,
                "receiptHandle": message.receipt,
                "body": message.body,
                "attributes": {
                    "ApproximateReceiveCount": str(message.receive_count),
                    "MessageGroupId": message.group_id,
                },
            }
            for message in messages
        ]
    }


def inbound(messages: list[Message]) -> list[InboundMessage]:
    return [InboundMessage(m.message_id, m.group_id, m.body, m.receive_count, m.receipt) for m in messages]


class Functions:
    """One execution environment of each function, as its composition root would build it."""

    def __init__(self, table: Table, cio: FakeCustomerIo, repository: SimRepository, seed: int) -> None:
        clock = table.clock
        self.clock = clock
        self.table = table
        self.track_queue = Queue(clock, fifo=True)
        self.email_queue = Queue(clock, fifo=False)
        self.publisher = Publisher(self.track_queue, self.email_queue)
        self.pending = FakePending()
        client_args: dict[str, Any] = {
            "pool": cio,
            "clock": clock,
            "sleep": clock.sleep,
            "rng": random.Random(seed),
        }
        self.track_client = TrackClient(CREDENTIALS, base_url="https://track.invalid", **client_args)
        app = AppClient(CREDENTIALS, base_url="https://app.invalid", **client_args)
        self.people = PeopleClient(CREDENTIALS, base_url="https://app.invalid", **client_args)
        self.track_redelivery = Redelivery(self.track_queue, MAX_RECEIVES, rng=random.Random(seed))
        self.email_redelivery = Redelivery(self.email_queue, MAX_RECEIVES, rng=random.Random(seed + 1))

        def send(intent: SendEmail, deadline: float | None) -> EmailSent:
            cio.sending_intent = f"{intent.member_id}|{intent.intent_id}|{intent.kind}"
            return send_transactional(intent, repository, app, MESSAGES, deadline=deadline, now_s=clock())

        self.sends = IdempotentSends(clock, send)
        self.repository = repository
        self.store = MemoryStore()

    def stream(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        deps = MemberStreamRuntime(self.table, self.pending, self.publisher, volatile_window_s=86400)
        return member_stream_handler.handle({"Records": records}, deps)

    def track(self, messages: list[Message], reader: TableReader | None = None) -> list[str]:
        """The track flow with the function's clock (its handler reads the wall clock for the version)."""
        outcome = process_track_batch(
            inbound(messages),
            reader=reader or TableReader(self.table),
            sender=self.track_client,
            dead_letters=self.track_queue,
            deadline=self.clock() + INVOCATION_S,
            redelivery=self.track_redelivery,
            clock=self.clock,
        )
        return outcome.failed_message_ids

    def email(self, messages: list[Message]) -> list[str]:
        deps = EmailRuntime(self.sends, self.email_queue, self.email_redelivery, lambda: [])
        try:
            response = email_handler.handle(sqs_event(messages), None, deps)
        except EveryRecordFailed:
            return [message.message_id for message in messages]
        return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]

    def sweep(self, check_attributes: bool) -> dict[str, Any]:
        deps = ProfileSweepRuntime(
            directory=self.people,
            members=TableReader(self.table),
            publisher=self.publisher,
            placeholder_id=PLACEHOLDER,
            check_attributes=check_attributes,
            max_deletes=1000,
            volatile_window_s=86400,
        )
        return profile_sweep_handler.handle({}, None, deps, self.clock())

    def import_chunk(self, claims: Any, body: str) -> dict[str, Any]:
        deps = ImportChunkRuntime(claims=claims, members=self.repository, store=self.store)
        message = Message("chunk", "import-0", body, receive_count=1, receipt="chunk")
        try:
            return import_chunk_handler.handle(sqs_event([message]), None, deps)
        except EveryRecordFailed:
            return {"batchItemFailures": [{"itemIdentifier": "chunk"}]}


__all__ = ["TRACK_LANES", "Functions", "LambdaTimeout"]
