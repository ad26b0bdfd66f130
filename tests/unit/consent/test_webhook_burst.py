"""Issue 22's burst of 10,000 reporting webhooks, in process: the real receiver (handler, signature, the
SQS adapter) answers each and queues it once in its member's lane, and the real consent function drains
the queue so that every member ends where its events say.

In memory (burst_fakes), so the test measures cio-sync, not moto: a FIFO queue that dedupes for 5 minutes
and delivers at least once, and the member table with the stream's rules. Senders work as Customer.io
does: several at a time, each member's events in order, a retry (a new timestamp and signature) when an
answer is lost or is a 5xx. The wiring on the wire (function URL, real SQS attributes) is left to the
smaller bursts in tests/integration (local/test_webhook_burst.py, consent/test_consent_aws.py).
"""

from __future__ import annotations

import json
import threading
import zlib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pytest

from cio_sync.adapters.consent_queue import SqsConsentQueue
from cio_sync.customerio.reporting import centre_topic_names, event_from_message, parse_topic_map
from cio_sync.failures import TransientFailure
from cio_sync.handlers import consent, reporting_webhook
from cio_sync.handlers.consent_runtime import ConsentRuntime
from cio_sync.handlers.reporting_webhook_runtime import ReportingWebhookRuntime
from cio_sync.observability import metrics
from cio_sync.pipeline.consent import ConsentPolicy
from cio_sync.pipeline.messages import TRACK_LANES, lane_of
from tests.unit.consent.burst_fakes import FifoSqs, RuledTable, record
from tests.unit.consent.signing import KEY, NOW, sign, url_event, webhook_body
from tests.unit.pipeline.fakes import FakeDeadLetters

MEMBERS_PER_SCRIPT = 625  # 4 scripts x 625 members x 4 events: 10,000 webhooks
SENDERS = 4
T0 = NOW - 3600  # the events happened in the last hour; the burst is Customer.io's backlog arriving
STEP_S = 60


Event = tuple[str, str, dict[str, Any]]  # object_type, metric, the event's data


def prefs(**topics: bool) -> Event:
    content = json.dumps({"topics": topics})
    return ("customer", "cio_subscription_preferences_changed", {"content": content})


UNSUBSCRIBED: Event = ("customer", "unsubscribed", {})
EMAIL_UNSUBSCRIBED: Event = ("email", "unsubscribed", {})
BOUNCED: Event = ("email", "bounced", {})
SPAMMED: Event = ("email", "spammed", {})
SUBSCRIBED: Event = ("customer", "subscribed", {})


def at(step: int) -> str:
    return datetime.fromtimestamp(T0 + step * STEP_S, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Script(NamedTuple):
    seed: dict[str, Any] | None  # the member as stored before the burst (None: not a member)
    events: list[Event]
    final: dict[str, Any]  # what the member holds after
    writes: int  # writes the events make: a redelivered or retried event makes none


SMS = {"sms_status": "active", "mobile": "+15005550006"}
SCRIPTS = {
    # Drops a topic, picks another, bounces, then unsubscribes: email only, so muted.
    "opts_out": Script(
        {},
        [prefs(topic_1=False), prefs(topic_3=True), BOUNCED, UNSUBSCRIBED],
        {"email_subscription_status": False, "email_subscription_topics": [], "muted": True}
        | {"email_bounced_at": at(2), "email_opt_out_at": at(3), "email_cio_opt_out_at": at(3)},
        4,
    ),
    # Bounces, complains of spam, then unsubscribes twice more: one opt-out; SMS keeps them unmuted.
    "complains": Script(
        SMS,
        [BOUNCED, SPAMMED, UNSUBSCRIBED, EMAIL_UNSUBSCRIBED],
        {"email_subscription_status": False, "email_subscription_topics": [], "muted": False}
        | {"email_bounced_at": at(0), "email_spam_reported_at": at(1), "email_opt_out_at": at(1)},
        2,
    ),
    # Unsubscribes, then picks a topic on the preference page (subscribed again, unmuted), bounces twice.
    "comes_back": Script(
        {},
        [UNSUBSCRIBED, prefs(topic_2=True), BOUNCED, BOUNCED],
        {"email_subscription_status": True, "email_subscription_topics": ["lifestyle"], "muted": False}
        | {"email_bounced_at": at(3), "email_opt_out_at": at(0), "email_cio_opt_out_at": at(0)},
        4,
    ),
    # Not in the table: every event acknowledged and dropped, nobody created.
    "stranger": Script(None, [UNSUBSCRIBED, SPAMMED, prefs(topic_1=True), SUBSCRIBED], {}, 0),
}


def member_id(script: int, n: int) -> str:
    return f"{script:02x}{n:022x}"


def seeded(extra: dict[str, Any], member: str) -> dict[str, Any]:
    return {
        "id": member,
        "updated_at": "2026-01-01T00:00:00.000000Z",
        "email_subscription_status": True,
        "email_subscription_topics": ["lifestyle", "news"],
        "email_opt_in_at": "2026-01-01T00:00:00.000000Z",
        **extra,
    }


def chosen(text: str, one_in: int) -> bool:
    """A fixed pseudo-random pick (the same in every run)."""
    return zlib.crc32(text.encode()) % one_in == 0


class Burst:
    def __init__(self) -> None:
        throttled: set[str] = set()

        def throttle(dedup_id: str) -> bool:  # SQS fails one send in 50 once: the receiver answers 5xx
            if chosen("throttle" + dedup_id, 50) and dedup_id not in throttled:
                throttled.add(dedup_id)
                return True
            return False

        self.sqs = FifoSqs(clock=lambda: NOW, throttle=throttle)
        self.receiver = ReportingWebhookRuntime(
            lambda: KEY, SqsConsentQueue(self.sqs, "consent.fifo"), clock=lambda: NOW
        )
        self.invocation = threading.Lock()  # a Lambda environment runs one call at a time
        self.answers: Counter[int] = Counter()
        self.retries = 0

    def call(self, body: bytes, timestamp: int) -> int:
        with self.invocation:
            try:
                response = reporting_webhook.handle(
                    url_event(body, timestamp=timestamp, signature=sign(body, timestamp)), None, self.receiver
                )
                status = int(response["statusCode"])
            except TransientFailure:
                status = 502  # Lambda answers an invocation that raised with a 5xx
            metrics.clear_metrics()  # what Powertools' log_metrics flushes at the end of each invocation
            self.answers[status] += 1
            return status

    def send(self, event_id: str, body: bytes) -> None:
        """Customer.io's delivery of one webhook: sent until answered below 500; one answer in ten is lost
        on the way back, so that webhook is sent again, stamped and signed anew."""
        for attempt in range(1, 10):
            if self.call(body, NOW - 200 + attempt) < 500 and not chosen(f"{event_id}/{attempt}", 10):
                return
            with self.invocation:  # senders run on several threads
                self.retries += 1
        raise AssertionError(f"{event_id} never answered")


def sender(burst: Burst, members: list[tuple[str, Script]]) -> None:
    """Each member's events in order, one after another (Customer.io holds later webhooks behind one not
    yet answered), so that a member's events share batches and a redelivery can follow a later event."""
    for member, script in members:
        for step, (kind, metric, data) in enumerate(script.events):
            event_id = f"01JBURST{member}{step}"
            body = webhook_body(
                kind, metric, event_id=event_id, customer_id=member, timestamp=T0 + step * STEP_S, **data
            )
            burst.send(event_id, body)


def drain(sqs: FifoSqs, runtime: ConsentRuntime) -> int:
    """The consent function's event source mapping: batches of 10; now and then the function's work is done
    but its deletes are lost (the whole batch, or one message), and SQS delivers it again."""
    batches = redelivered = 0
    while batch := sqs.receive(10):
        batches += 1
        response = consent.handle({"Records": [record(m) for m in batch]}, None, runtime)
        metrics.clear_metrics()
        assert response == {"batchItemFailures": []}
        if batches % 7 == 0:
            lost = batch
        else:
            lost = [m for m in batch if m.receives == 1 and chosen(m.message_id, 23)]
        sqs.give_back(lost)
        redelivered += len(lost)
    return redelivered


@pytest.fixture(autouse=True)
def clean_metrics() -> Iterator[None]:
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


def test_ten_thousand_webhooks_are_queued_once_each_and_every_member_ends_where_its_events_say() -> None:
    scripts = enumerate(SCRIPTS.values())
    members = {member_id(s, n): script for s, script in scripts for n in range(MEMBERS_PER_SCRIPT)}
    burst = Burst()
    shards = [list(members.items())[i::SENDERS] for i in range(SENDERS)]
    with ThreadPoolExecutor(SENDERS) as pool:
        for done in [pool.submit(sender, burst, shard) for shard in shards]:
            done.result()

    # Every call answered 202, but those SQS failed (5xx, sent again): a retry too, deduplicated by SQS.
    assert burst.answers.keys() == {202, 502}
    assert burst.answers.total() == 10_000 + burst.retries
    queued = Counter(event_from_message(m.body).event_id for m in burst.sqs.accepted)
    assert len(queued) == 10_000
    assert set(queued.values()) == {1}
    lanes = {(event_from_message(m.body).customer_id, m.group) for m in burst.sqs.accepted}
    assert lanes == {(member, lane_of(member, TRACK_LANES)) for member in members}

    table = RuledTable(
        {m: seeded(s.seed, m) for m, s in members.items() if s.seed is not None},
        clock=datetime.fromtimestamp(NOW + 60, UTC),
    )
    dead, quarantine = FakeDeadLetters(), FakeDeadLetters()
    topics = centre_topic_names(parse_topic_map("news=1,lifestyle=2,community=3"))
    policy = ConsentPolicy(topics, False, None, "cio-sync-placeholder")
    redelivered = drain(burst.sqs, ConsentRuntime(table, dead, quarantine, policy))

    assert redelivered > 1_000  # at-least-once delivery was exercised
    assert burst.retries > 500
    assert (dead.parked, quarantine.parked) == ([], [])
    for member, script in members.items():
        item = table.items.get(member)
        if script.seed is None:
            assert item is None, member
            continue
        assert item is not None
        held = {name: item.get(name) for name in script.final if name != "muted"}
        assert held | {"muted": item.get("promotions_muted_at") is not None} == script.final, member
        assert table.writes.get(member, 0) == script.writes, member
