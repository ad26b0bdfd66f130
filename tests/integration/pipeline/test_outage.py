"""A long Customer.io outage, time-compressed: nothing that would succeed afterwards is parked.

The consumers' backoff runs 2880 times faster (`time_scale`), so each retry comes back after SQS's
smallest visibility timeout (1 s). The outage lasts until the event it is about, not a wall time: until
both lanes (track and email) have had a message received more times than the old limit that used to
dead-letter it, and the short reset's validity has passed. That the real schedule fits a day in the
queues' receive budget is checked on its own (tests/unit/pipeline/test_redelivery.py, tests/infra:
`outage_budget_s` against the template's maxReceiveCount). What this test shows is the behaviour: every
lane backs off, nothing is dead-lettered, the lanes recover by themselves, the invariant holds, and each
email is sent once or parked as expired.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cio_sync.pipeline.redelivery import MAX_RECEIVES
from cio_sync.producer_api import producer
from cio_sync_local.delivery import PumpListener
from cio_sync_local.invoker import InvocationResult
from cio_sync_local.pump import Pump
from cio_sync_local.soak_checks import OLD_RECEIVE_LIMIT
from cio_sync_local.stack import LocalStack

from .conftest import Pipeline

pytestmark = pytest.mark.integration

COMPRESSION = 2880  # every compressed retry delay rounds up to SQS's 1 s
LANES = ("TrackFunction", "EmailFunction")
SHORT_VALIDITY_S = 5  # a reset link that expires during the outage
OUTAGE_BOUND_S = 300.0  # a generous bound: the outage ends on its events, after about 10 s
DEAD_LETTER_QUEUES = ("TrackDeadLetterQueue", "EmailDeadLetterQueue", "StreamFailureQueue")


@pytest.fixture(scope="module")
def compressed() -> Iterator[Pipeline]:
    # The queues keep a long visibility timeout (120 s, longer than the outage): a failed message comes
    # back during the outage only because the consumer postponed it by its (compressed) backoff.
    with LocalStack(aws_port=0, cio_port=0, visibility_timeout_s=120, time_scale=1 / COMPRESSION) as stack:
        yield Pipeline(stack)


class MostReceives(PumpListener):
    """The most receives any message of each function has had so far (told by the pump's threads)."""

    def __init__(self, pump: Pump) -> None:
        self.most: dict[str, int] = {}
        self._lock = threading.Lock()
        pump.add_listener(self)

    def invoked(self, function: str, event: dict[str, Any], result: InvocationResult) -> None:
        for record in event.get("Records", []):
            receives = (record.get("attributes") or {}).get("ApproximateReceiveCount")
            if receives is not None:
                with self._lock:
                    self.most[function] = max(self.most.get(function, 0), int(receives))

    def every_lane_beyond(self, limit: int) -> bool:
        with self._lock:
            return all(self.most.get(lane, 0) > limit for lane in LANES)


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


def test_a_long_outage_parks_nothing_and_recovers_by_itself(compressed: Pipeline) -> None:
    emails = [f"outage-{uuid.uuid4().hex[:8]}-{n}@example.org" for n in range(6)]
    members = [compressed.repo.create_web_signup({"email": email}) for email in emails]
    compressed.drain()
    assert compressed.violations() == []
    requests_before = compressed.requests_total()

    assert compressed.stack.pump is not None
    receives = MostReceives(compressed.stack.pump)
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
            members[5]["id"], "https://example.org/r/short", valid_for_s=SHORT_VALIDITY_S
        )
        expired_at = time.monotonic() + SHORT_VALIDITY_S + 1
        created = compressed.repo.create_web_signup({"email": f"during-{uuid.uuid4().hex[:8]}@example.org"})
        # The outage lasts until every lane came back beyond the old limit and the short link expired,
        # checking all along that nothing is parked.
        while not (receives.every_lane_beyond(OLD_RECEIVE_LIMIT) and time.monotonic() > expired_at):
            assert _unexpected(_dead_letters(compressed)) == []
            assert time.monotonic() - outage_started < OUTAGE_BOUND_S, f"receives so far: {receives.most}"
            time.sleep(1)
        failed_meanwhile = compressed.requests_total() - requests_before
    finally:
        compressed.set_faults(fail_ratio=0.0)

    compressed.drain()
    # The consumers really kept trying, and failing, all through the outage (every lane backed off and
    # came back several times), yet parked nothing.
    assert failed_meanwhile >= 10
    # Messages of each lane came back again and again, beyond the five receives that used to dead-letter them.
    assert receives.every_lane_beyond(OLD_RECEIVE_LIMIT)
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
