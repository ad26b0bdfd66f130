"""A day-long Customer.io outage, time-compressed: nothing that would succeed afterwards is parked.

The consumers' backoff runs 2880 times faster (`time_scale`), so the outage below lasts the equivalent of
24 hours of backoff schedule. SQS visibility timeouts are whole seconds, so each compressed retry waits at
least 1 s and a message here is received fewer times than it would be in a real day; that the real
schedule fits a day in the queues' receive budget is checked on its own (tests/unit/pipeline/
test_redelivery.py, tests/infra: `outage_budget_s` against the template's maxReceiveCount). What this test
shows is the behaviour: every lane backs off, nothing is dead-lettered, the lanes recover by themselves,
the invariant holds, and each email is sent once or parked as expired.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cio_sync.pipeline.redelivery import MAX_RECEIVES
from cio_sync.producer_api import producer
from cio_sync_local.soak import PumpFaultCounter
from cio_sync_local.soak_checks import OLD_RECEIVE_LIMIT
from cio_sync_local.stack import LocalStack

from .conftest import Pipeline

pytestmark = pytest.mark.integration

COMPRESSION = 2880  # 24 hours of backoff schedule in 30 s
OUTAGE_S = 24 * 3600 / COMPRESSION
DEAD_LETTER_QUEUES = ("TrackDeadLetterQueue", "EmailDeadLetterQueue", "StreamFailureQueue")


@pytest.fixture(scope="module")
def compressed() -> Iterator[Pipeline]:
    # The queues keep a long visibility timeout (120 s, longer than the outage): a failed message comes
    # back during the outage only because the consumer postponed it by its (compressed) backoff.
    with LocalStack(aws_port=0, cio_port=0, visibility_timeout_s=120, time_scale=1 / COMPRESSION) as stack:
        yield Pipeline(stack)


def _dead_letters(pipeline: Pipeline) -> dict[str, list[dict[str, Any]]]:
    sqs = pipeline.stack.client("sqs")
    found: dict[str, list[dict[str, Any]]] = {}
    for queue in DEAD_LETTER_QUEUES:
        messages = sqs.receive_message(
            QueueUrl=pipeline.stack.queue_url(queue),
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=0,
        ).get("Messages", [])
        found[queue] = messages
    return found


def _unexpected(parked: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Dead letters other than an expired reset (the one thing an outage may rightly park)."""
    return [
        f"{queue}: {message['MessageAttributes']['failure_reason']['StringValue']}"
        for queue, messages in parked.items()
        for message in messages
        if not message["MessageAttributes"]["failure_reason"]["StringValue"].startswith("expired:")
    ]


def test_a_day_long_outage_parks_nothing_and_recovers_by_itself(compressed: Pipeline) -> None:
    emails = [f"outage-{uuid.uuid4().hex[:8]}-{n}@example.org" for n in range(6)]
    members = [compressed.repo.create_web_signup({"email": email}) for email in emails]
    compressed.drain()
    assert compressed.violations() == []
    requests_before = compressed.requests_total()

    assert compressed.stack.pump is not None
    receives = PumpFaultCounter(compressed.stack.pump)
    compressed.set_faults(fail_ratio=1.0, fail_status=503)
    outage_started = time.monotonic()
    try:
        # Work that arrives during the outage: profile changes, an unsubscribe, resets with long and with
        # short links (the short ones expire before Customer.io is back).
        compressed.repo.update(members[0]["id"], {"first_name": "Renamed"})
        compressed.repo.update(members[1]["id"], {"email_subscription_status": False})
        compressed.repo.update(members[2]["id"], {"email_subscription_topics": ["news", "clubs"]})
        late = [
            producer().request_password_reset(m["id"], f"https://example.org/r/{n}", valid_for_s=3600)
            for n, m in enumerate(members[3:5])
        ]
        expiring = producer().request_password_reset(
            members[5]["id"], "https://example.org/r/short", valid_for_s=int(OUTAGE_S / 2)
        )
        created = compressed.repo.create_web_signup({"email": f"during-{uuid.uuid4().hex[:8]}@example.org"})
        # Wait out the outage on the clock, checking all along that nothing is parked.
        while time.monotonic() - outage_started < OUTAGE_S:
            assert _unexpected(_dead_letters(compressed)) == []
            time.sleep(2)
        failed_meanwhile = compressed.requests_total() - requests_before
    finally:
        compressed.set_faults(fail_ratio=0.0)

    compressed.drain()
    # The consumers really kept trying, and failing, all through the outage (every lane backed off and
    # came back several times), yet parked nothing.
    assert failed_meanwhile >= 10
    # Each message came back again and again, beyond the five receives that used to dead-letter it.
    assert receives.max_receive_count > OLD_RECEIVE_LIMIT
    assert int(compressed.emulator("stats")["requests_by_status"].get("503", 0)) >= failed_meanwhile

    parked = _dead_letters(compressed)
    assert parked["TrackDeadLetterQueue"] == []
    assert parked["StreamFailureQueue"] == []
    reasons = [
        m["MessageAttributes"]["failure_reason"]["StringValue"] for m in parked["EmailDeadLetterQueue"]
    ]
    assert reasons == ["expired: its validity ended before it could be sent"]
    assert parked["EmailDeadLetterQueue"][0]["Body"].find(expiring) >= 0

    assert compressed.violations() == []
    assert compressed.profile(created["id"]) is not None
    assert compressed.profile(members[1]["id"]) is None
    sent = [email.get("message_data", {}).get("url") for email in compressed.emulator("emails")]
    for n in range(len(late)):
        assert sent.count(f"https://example.org/r/{n}") == 1
    assert "https://example.org/r/short" not in sent


def test_the_queues_allow_the_receives_the_backoff_needs(compressed: Pipeline) -> None:
    """The local stack deploys the template's receive budget, not a test value."""
    sqs = compressed.stack.client("sqs")
    for queue in ("TrackQueue", "EmailQueue"):
        attributes = sqs.get_queue_attributes(
            QueueUrl=compressed.stack.queue_url(queue), AttributeNames=["RedrivePolicy"]
        )["Attributes"]
        assert int(json.loads(attributes["RedrivePolicy"])["maxReceiveCount"]) == MAX_RECEIVES
