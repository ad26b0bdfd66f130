"""The reporting-webhook receiver, through its real handler with a fake queue: what it answers, what it
queues (only signed, fresh, well-formed events it acts on), and the metric each answer counts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from cio_sync.customerio.reporting import MAX_BODY_BYTES, ReportingEvent, event_from_message
from cio_sync.handlers.reporting_webhook import handle
from cio_sync.handlers.reporting_webhook_runtime import ReportingWebhookRuntime
from cio_sync.observability import metrics
from cio_sync.pipeline.messages import TRACK_LANES, lane_of
from tests.unit.consent.signing import KEY, MEMBER, NOW, sign, url_event, webhook_body


class FakeQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def put(self, event: ReportingEvent, group: str) -> None:
        self.sent.append((event.to_message(), group))


@pytest.fixture(autouse=True)
def clean_metrics() -> Iterator[None]:
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


@pytest.fixture
def queue() -> FakeQueue:
    return FakeQueue()


def call(event: dict[str, Any], queue: FakeQueue) -> tuple[int, str]:
    response = handle(event, None, ReportingWebhookRuntime(lambda: KEY, queue, clock=lambda: NOW))
    return response["statusCode"], json.loads(response["body"])["result"]


def counted(name: str) -> bool:
    return name in metrics.metric_set


def test_a_signed_event_is_queued_in_its_members_lane(queue: FakeQueue) -> None:
    assert call(url_event(webhook_body(email_address="a@example.org")), queue) == (202, "queued")
    ((body, group),) = queue.sent
    event = event_from_message(body)
    assert (event.event_id, event.object_type, event.metric) == (
        "01HWEBHOOKEVENT000000000001",
        "customer",
        "unsubscribed",
    )
    assert event.customer_id == MEMBER
    assert event.received_at == NOW
    assert group == lane_of(MEMBER, TRACK_LANES)
    assert "example.org" not in body  # the address is not kept
    assert counted("WebhookQueued")


def test_a_base64_body_is_verified_on_its_decoded_bytes(queue: FakeQueue) -> None:
    assert call(url_event(webhook_body(), base64_body=True), queue) == (202, "queued")
    assert len(queue.sent) == 1


@pytest.mark.parametrize(
    ("make", "status", "reason"),
    [
        (lambda body: url_event(body, signature=sign(body, key=b"another key")), 401, "bad_signature"),
        (lambda body: url_event(body, signature=sign(body + b" "), timestamp=NOW), 401, "bad_signature"),
        (lambda body: url_event(body, signature="zz" * 32), 401, "bad_signature"),
        (lambda body: url_event(body, signature=sign(body)[:-2]), 401, "bad_signature"),
        (lambda body: url_event(body, timestamp=NOW - 8 * 86_400 - 1), 401, "stale_timestamp"),
        (lambda body: url_event(body, timestamp=NOW + 301), 401, "stale_timestamp"),
        (
            lambda body: url_event(body, signature=sign(body, timestamp=NOW - 3600), timestamp=NOW - 3599),
            401,
            "bad_signature",
        ),
        (lambda body: url_event(body, timestamp=None), 401, "unsigned"),
        (lambda body: url_event(body, signature="é" * 64), 401, "bad_signature"),
        (
            lambda body: {**url_event(body), "headers": {"x-cio-timestamp": "١٢٣", "x-cio-signature": "00"}},
            401,
            "bad_timestamp",
        ),
        (
            lambda body: {
                **url_event(body),
                "headers": {"x-cio-timestamp": "9" * 5000, "x-cio-signature": "00"},
            },
            401,
            "bad_timestamp",
        ),
        (lambda body: {**url_event(body), "body": "%%%", "isBase64Encoded": True}, 400, "malformed"),
        (lambda body: url_event(body, method="GET"), 405, "method"),
    ],
    ids=[
        "forged",
        "tampered",
        "not-hex",
        "truncated",
        "older-than-any-retry",
        "future",
        "old-with-its-timestamp-changed",
        "unsigned",
        "non-ascii-signature",
        "non-ascii-digits",
        "huge-timestamp",
        "bad-base64",
        "get",
    ],
)
def test_untrusted_calls_are_refused_and_nothing_is_queued(
    queue: FakeQueue, make: Any, status: int, reason: str
) -> None:
    assert call(make(webhook_body()), queue) == (status, reason)
    assert queue.sent == []
    assert counted("WebhookRefused" + "".join(part.capitalize() for part in reason.split("_")))


def test_a_timestamp_just_inside_five_minutes_ahead_is_accepted(queue: FakeQueue) -> None:
    body = webhook_body()
    assert call(url_event(body, timestamp=NOW - 300), queue) == (202, "queued")
    assert call(url_event(body, timestamp=NOW + 300), queue) == (202, "queued")


@pytest.mark.parametrize("age_s", [301, 3600, 7 * 86_400])
def test_a_retry_that_keeps_its_first_signature_is_accepted(queue: FakeQueue, age_s: int) -> None:
    """Customer.io does not say it re-signs a retried call: refusing an old signature would turn one
    failed delivery into a permanent 401, and every later webhook would wait behind it for 7 days."""
    body = webhook_body()
    assert call(url_event(body, timestamp=NOW - age_s), queue) == (202, "queued")
    assert len(queue.sent) == 1


@pytest.mark.parametrize("base64_body", [False, True])
def test_an_oversized_body_is_refused_even_when_signed(queue: FakeQueue, base64_body: bool) -> None:
    body = webhook_body(padding="x" * MAX_BODY_BYTES)
    assert call(url_event(body, base64_body=base64_body), queue) == (413, "oversized")
    assert queue.sent == []


@pytest.mark.parametrize(
    "body", [b"{not json", b"[1, 2]", b"[" * 100_000 + b"]" * 100_000], ids=["json", "array", "deep"]
)
def test_signed_bodies_that_are_not_a_json_object_are_refused(queue: FakeQueue, body: bytes) -> None:
    assert call(url_event(body), queue) == (400, "malformed")
    assert queue.sent == []
    assert counted("WebhookRefusedMalformed")


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"object_type": "customer", "metric": "unsubscribed", "timestamp": NOW}).encode(),
        webhook_body(timestamp="yesterday"),  # type: ignore[arg-type]
        webhook_body("customer", "cio_subscription_preferences_changed", content="{broken"),
        webhook_body(
            "customer", "cio_subscription_preferences_changed", content='{"topics": {"topic_1": "yes"}}'
        ),
    ],
    ids=["no-event-id", "timestamp", "content-json", "topic-value"],
)
def test_signed_events_it_cannot_use_are_answered_2xx_and_dropped(queue: FakeQueue, body: bytes) -> None:
    """Review of issue 22, F3: a 4xx is retried for days and holds every later webhook behind it."""
    assert call(url_event(body), queue) == (200, "ignored")
    assert queue.sent == []
    assert counted("WebhookIgnored")


@pytest.mark.parametrize("customer_id", ["", None])
def test_an_unsubscribe_from_a_profile_with_no_id_is_acknowledged_as_not_a_member(
    queue: FakeQueue, customer_id: str | None
) -> None:
    """Review of issue 22, F3: an email-only profile's unsubscribe was answered 400 (a 7-day backlog)."""
    body = json.dumps(
        {
            "event_id": "01HEMAILONLY0000000000001",
            "object_type": "customer",
            "metric": "unsubscribed",
            "timestamp": NOW - 10,
            "data": {"customer_id": customer_id, "identifiers": {"email": "x@example.org", "cio_id": "a1"}},
        }
    ).encode()
    assert call(url_event(body), queue) == (200, "not_a_member")
    assert queue.sent == []
    assert counted("WebhookNotAMember")


@pytest.mark.parametrize(
    ("object_type", "metric"), [("email", "opened"), ("push", "unsubscribed"), ("email", "sent")]
)
def test_events_it_does_not_act_on_are_answered_2xx_and_dropped(
    queue: FakeQueue, object_type: str, metric: str
) -> None:
    assert call(url_event(webhook_body(object_type, metric, customer_id="")), queue) == (200, "ignored")
    assert queue.sent == []
    assert counted("WebhookIgnored")


def test_preference_changes_keep_the_topics(queue: FakeQueue) -> None:
    content = json.dumps({"topics": {"topic_1": True, "topic_2": False}})
    body = webhook_body("customer", "cio_subscription_preferences_changed", content=content)
    assert call(url_event(body), queue) == (202, "queued")
    assert event_from_message(queue.sent[0][0]).topics == {"topic_1": True, "topic_2": False}
