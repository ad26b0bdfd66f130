"""The product's handlers and flows, wired to the in-memory world: what each function's composition root
builds on AWS, built here from fakes (no sockets, no wall clock where the flow lets us pass a clock)."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, NamedTuple

from cio_sync.adapters.customerio.app_client import AppClient
from cio_sync.adapters.customerio.credentials import Credentials
from cio_sync.adapters.customerio.people_client import PeopleClient
from cio_sync.adapters.customerio.track_client import TrackClient
from cio_sync.handlers import consent as consent_handler
from cio_sync.handlers import import_chunk as import_chunk_handler
from cio_sync.handlers import member_stream as member_stream_handler
from cio_sync.handlers import profile_sweep as profile_sweep_handler
from cio_sync.handlers import track as track_handler
from cio_sync.handlers.consent_runtime import ConsentRuntime
from cio_sync.handlers.email import METRICS as EMAIL_METRICS
from cio_sync.handlers.import_chunk_runtime import ImportChunkRuntime
from cio_sync.handlers.member_stream_runtime import MemberStreamRuntime
from cio_sync.handlers.profile_sweep_runtime import ProfileSweepRuntime
from cio_sync.handlers.sqs_batch import EveryRecordFailed, inbound_messages, partial_batch
from cio_sync.handlers.track_runtime import TrackRuntime
from cio_sync.pipeline.consent import ConsentPolicy
from cio_sync.pipeline.email_consumer import EmailMessages, EmailPorts, consume_email, queued_email
from cio_sync.pipeline.messages import TRACK_LANES, InboundMessage
from cio_sync.pipeline.redelivery import MAX_RECEIVES, Redelivery
from tests.unit.imports.fakes import MemoryStore
from tests.unit.pipeline.email_fakes import FakeClaims
from tests.unit.pipeline.fakes import BudgetRunsOut, FakeDeadLetters, FakePending

from .fake_customerio import FakeCustomerIo
from .world import LambdaTimeout, Message, Publisher, Queue, SimConsent, SimRepository, Table, TableReader

PLACEHOLDER = "cio-sync-transactional-placeholder"
MESSAGES = EmailMessages(PLACEHOLDER, "forgot_password_message", "password_updated_message")
CREDENTIALS = Credentials(site_id="site", track_api_key="track-key", app_api_key="app-key")
INVOCATION_S = 60.0
CONSENT_POLICY = ConsentPolicy(
    topic_map={}, bounce_unsubscribes=False, quarantine=None, placeholder_id=PLACEHOLDER
)


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


class SweepInvocation(NamedTuple):
    """The sweep's Lambda context, as far as it reads one (its run id; no deadline on fake time)."""

    aws_request_id: str


class Functions:
    """One execution environment of each function, as its composition root would build it, on fake time."""

    def __init__(self, table: Table, cio: FakeCustomerIo, repository: SimRepository, seed: int) -> None:
        clock = table.clock
        self.clock = clock
        self.table = table
        self.track_queue = Queue(clock, fifo=True)
        self.email_queue = Queue(clock, fifo=False)
        self.consent_queue = Queue(clock, fifo=True)
        self.publisher = Publisher(self.track_queue, self.email_queue)
        self.pending = FakePending()
        self.sweeps = 0
        client_args: dict[str, Any] = {
            "pool": cio,
            "clock": clock,
            "sleep": clock.sleep,
            "rng": random.Random(seed),
        }
        self.track_client = TrackClient(CREDENTIALS, base_url="https://track.invalid", **client_args)
        self.app = AppClient(CREDENTIALS, base_url="https://app.invalid", **client_args)
        self.people = PeopleClient(CREDENTIALS, base_url="https://app.invalid", **client_args)
        self.track_redelivery = Redelivery(self.track_queue, MAX_RECEIVES, rng=random.Random(seed))
        self.email_redelivery = Redelivery(self.email_queue, MAX_RECEIVES, rng=random.Random(seed + 1))
        self.claims = FakeClaims()  # the SendClaims port in memory, held to DynamoSendClaims' rules
        self.cio = cio
        self.repository = repository
        self.store = MemoryStore()
        self.consent_dead = FakeDeadLetters()
        self.unrecorded: Counter[str] = Counter()
        self.budget_runs_out: tuple[int, str] | None = None  # for the next stream invocation: (nth, point)

    def stream(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        deps = MemberStreamRuntime(self.table, self.pending, self.publisher, volatile_window_s=86400)
        if self.budget_runs_out is not None:  # else no context: no record budget ever runs out
            budget = BudgetRunsOut(*self.budget_runs_out)
            self.budget_runs_out = None
            deps = deps._replace(budget=lambda _context: budget)
        return member_stream_handler.handle({"Records": records}, None, deps)

    def track(self, messages: list[Message], reader: TableReader | None = None) -> list[str]:
        """The track handler, its clock injected (it stamps identifies with the send time)."""
        deps = TrackRuntime(
            members=reader or TableReader(self.table),
            sender=self.track_client,
            dead_letters=self.track_queue,
            redelivery=self.track_redelivery,
            preflight=lambda: [],
            topic_map={},
            clock=self.clock,
        )
        response = track_handler.handle(sqs_event(messages), self.clock() + INVOCATION_S, deps)
        return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]

    def email(self, messages: list[Message]) -> list[str]:
        """The email handler's loop (its `handle` reads the wall clock, so its body is run on fake time)."""
        ports = EmailPorts(
            self.claims, self.repository, self.app, MESSAGES, self.email_queue, self.email_redelivery
        )
        now = self.clock()

        def send(message: InboundMessage) -> None:
            self.cio.sending_intent = ""
            queued = queued_email(message)
            if queued.intent is not None:
                intent = queued.intent
                self.cio.sending_intent = f"{intent.member_id}|{intent.intent_id}|{intent.kind}"
            outcome = consume_email(
                queued,
                ports,
                now_s=now,
                lease_until_s=now + INVOCATION_S,
                deadline=now + INVOCATION_S,
                sleep=self.clock.sleep,
            )
            assert outcome in EMAIL_METRICS
            if outcome == "sent_unrecorded":  # alarmed; a later receive of the intent may send it again
                self.unrecorded[self.cio.sending_intent] += 1

        try:
            response = partial_batch(inbound_messages(sqs_event(messages)), send)
        except EveryRecordFailed:
            return [message.message_id for message in messages]
        return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]

    def consent(self, messages: list[Message], members: SimConsent) -> list[str]:
        deps = ConsentRuntime(members, self.consent_dead, self.consent_dead, CONSENT_POLICY)
        try:
            response = consent_handler.handle(sqs_event(messages), None, deps)
        except EveryRecordFailed:
            return [message.message_id for message in messages]
        return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]

    def sweep(self, check_attributes: bool) -> dict[str, Any]:
        reader = TableReader(self.table)
        deps = ProfileSweepRuntime(
            directory=self.people,
            members=reader,
            publisher=self.publisher,
            placeholder_id=PLACEHOLDER,
            check_attributes=check_attributes,
            max_deletes=1000,
            volatile_window_s=86400,
            scanner=reader,
            find_missing=True,
            clock=self.clock,
        )
        self.sweeps += 1  # each invocation has its own request id, as Lambda's have
        return profile_sweep_handler.handle({}, SweepInvocation(f"{self.sweeps:08d}-sweep"), deps)

    def import_chunk(self, claims: Any, body: str) -> dict[str, Any]:
        deps = ImportChunkRuntime(
            claims=claims, members=self.repository, store=self.store, now=self.clock.iso
        )
        message = Message("chunk", "import-0", body, receive_count=1, receipt="chunk")
        try:
            return import_chunk_handler.handle(sqs_event([message]), None, deps)
        except EveryRecordFailed:
            return {"batchItemFailures": [{"itemIdentifier": "chunk"}]}


__all__ = ["TRACK_LANES", "Functions", "LambdaTimeout"]
