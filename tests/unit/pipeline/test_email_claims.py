"""Claim, send, record the delivery id: what each receive of an intent does, whatever the table says."""

import time
from collections.abc import Callable

import pytest

from cio_sync.pipeline.email_consumer import (
    RECORD_ATTEMPTS,
    EmailOutcome,
    EmailPorts,
    SendInProgress,
    consume_email,
    queued_email,
)
from cio_sync.pipeline.messages import InboundMessage
from cio_sync.sync.intents import SendEmail
from tests.unit.pipeline.email_fakes import ClaimRecord, FakeClaims, Members, Sender, email_ports

MEMBER = {"id": "5f1e2d3c4b5a69788796a5b4", "email": "a@example.org"}
INTENT = SendEmail("pw-1", MEMBER["id"], "password_updated", {})
KEY = f"{MEMBER['id']}#pw-1"
NOW_S = 1_790_000_000.0


def message(receives: int = 1) -> InboundMessage:
    return InboundMessage("m-1", "", INTENT.to_json(), receives, f"receipt-{receives}")


def receive(
    ports: EmailPorts, receives: int = 1, now_s: float = NOW_S, sleep: Callable[[float], None] = time.sleep
) -> EmailOutcome:
    """The consumer on the intent's `receives`-th receive, at `now_s`, holding a one-minute lease."""
    return consume_email(
        queued_email(message(receives)),
        ports,
        now_s=now_s,
        lease_until_s=now_s + 60,
        deadline=None,
        sleep=sleep,
    )


def test_a_sent_intent_records_its_delivery_id_and_a_later_receive_acknowledges_without_sending() -> None:
    sender, claims = Sender(), FakeClaims()
    ports, _, dead = email_ports(Members(MEMBER), sender, claims)
    first = receive(ports)
    again = receive(ports, 2, now_s=NOW_S + 3600)
    assert (first, again) == ("sent", "already_sent")
    assert len(sender.sent) == 1
    assert claims.records[KEY].delivery_id == "delivery-1"
    assert dead.parked == []


def test_a_save_that_fails_a_few_times_is_retried_with_growing_waits() -> None:
    claims = FakeClaims(failing_records=RECORD_ATTEMPTS - 1)
    ports, _, _ = email_ports(Members(MEMBER), Sender(), claims)
    waits: list[float] = []
    outcome = receive(ports, sleep=waits.append)
    assert outcome == "sent"
    assert claims.records[KEY].delivery_id == "delivery-1"
    assert len(waits) == RECORD_ATTEMPTS - 1
    assert waits == sorted(waits)
    assert waits[0] < waits[-1]


def test_a_save_that_keeps_failing_acknowledges_the_sent_email_and_says_so() -> None:
    """Failing the message would send the email again on its next receive."""
    claims = FakeClaims(failing_records=RECORD_ATTEMPTS)
    sender = Sender()
    ports, visibility, dead = email_ports(Members(MEMBER), sender, claims)
    outcome = receive(ports, sleep=lambda _: None)
    assert outcome == "sent_unrecorded"
    assert len(sender.sent) == 1
    assert (visibility.postponed, dead.parked) == ([], [])


@pytest.mark.parametrize("receives", [1, 5])
def test_a_live_claim_of_another_receive_sends_nothing_and_comes_back_when_its_lease_ends(
    receives: int,
) -> None:
    """Not a failure to park, even on the last allowed receive."""
    claims = FakeClaims(records={KEY: ClaimRecord("other", NOW_S + 42.5)})
    sender = Sender()
    ports, visibility, dead = email_ports(Members(MEMBER), sender, claims, max_receives=5)
    with pytest.raises(SendInProgress):
        receive(ports, receives)
    assert sender.sent == []
    assert dead.parked == []
    assert visibility.postponed == [(f"receipt-{receives}", 43)]
    assert claims.records[KEY].holder == "other"


def test_an_expired_claim_without_a_delivery_id_is_taken_over_and_sent() -> None:
    """Its holder died mid-send: the App API has no idempotency key, so this may be a second email."""
    claims = FakeClaims(records={KEY: ClaimRecord("dead", NOW_S - 1)})
    sender = Sender()
    ports, _, _ = email_ports(Members(MEMBER), sender, claims)
    outcome = receive(ports, 2)
    assert outcome == "sent"
    assert len(sender.sent) == 1
