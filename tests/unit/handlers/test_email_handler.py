"""The email function's entry point with fakes: issue 21's "email sent twice" history and a racing receive.

Each test drives `handle` as Lambda would: an SQS event, a context, the runtime's ports.
"""

from __future__ import annotations

import pytest

from cio_sync.handlers.email import handle
from cio_sync.handlers.email_runtime import EmailRuntime
from cio_sync.handlers.sqs_batch import EveryRecordFailed
from cio_sync.observability import metrics
from cio_sync.pipeline.email_consumer import EmailPorts
from cio_sync.sync.intents import SendEmail
from tests.observability import captured_logs
from tests.unit.pipeline.email_fakes import (
    ENDED,
    Context,
    FakeClaims,
    Members,
    Sender,
    email_event,
    email_ports,
)

MEMBER = {"id": "5f1e2d3c4b5a69788796a5b4", "email": "private.person@example.org"}
RESET = SendEmail("reset-9", MEMBER["id"], "forgot_password", {"url": "https://example.org/r?t=secret-token"})


def metric(name: str) -> float:
    entry = metrics.metric_set.get(name)
    return float(sum(entry["Value"])) if entry else 0.0


def runtime(ports: EmailPorts) -> EmailRuntime:
    return EmailRuntime(ports=ports, preflight=list)


def test_an_email_whose_delivery_id_was_not_saved_at_first_is_never_sent_again() -> None:
    """Issue 21: the App API accepted the email, saving the record failed, the message came back."""
    sender, claims = Sender(), FakeClaims(failing_records=1)
    ports, visibility, dead = email_ports(Members(MEMBER), sender, claims)
    first = handle(email_event(RESET, 1), ENDED, runtime(ports))
    again = handle(email_event(RESET, 2), Context(), runtime(ports))  # SQS delivers at least once
    assert first == again == {"batchItemFailures": []}
    assert len(sender.sent) == 1
    assert (visibility.postponed, dead.parked) == ([], [])
    assert (metric("EmailsSent"), metric("EmailsAlreadySent"), metric("EmailSentUnrecorded")) == (1, 1, 0)


def test_an_email_sent_but_never_recorded_is_acknowledged_and_counted_without_personal_data() -> None:
    sender, claims = Sender(), FakeClaims(failing_records=100)
    ports, visibility, _ = email_ports(Members(MEMBER), sender, claims)
    with captured_logs() as lines:
        assert handle(email_event(RESET, 1), Context(), runtime(ports)) == {"batchItemFailures": []}
    assert len(sender.sent) == 1
    assert visibility.postponed == []
    assert (metric("EmailsSent"), metric("EmailSentUnrecorded")) == (1, 1)
    assert "delivery id not saved" in lines.text
    assert MEMBER["email"] not in lines.text
    assert "secret-token" not in lines.text


def test_a_receive_while_the_first_invocation_still_sends_sends_nothing_and_comes_back_later() -> None:
    sender = Sender()
    ports, visibility, dead = email_ports(Members(MEMBER), sender)
    racing: list[str] = []

    def second_invocation() -> None:
        """Its only record fails, so the invocation raises: Lambda hands the message back."""
        with pytest.raises(EveryRecordFailed):
            handle(email_event(RESET, 2), Context(), runtime(ports))
        racing.append("failed")

    sender.during_send = second_invocation
    assert handle(email_event(RESET, 1), Context(), runtime(ports)) == {"batchItemFailures": []}
    assert racing == ["failed"]
    assert len(sender.sent) == 1
    assert dead.parked == []
    ((receipt, seconds),) = visibility.postponed
    assert receipt == "receipt-2"
    assert 0 < seconds <= 61
    later = handle(email_event(RESET, 3), Context(), runtime(ports))
    assert later == {"batchItemFailures": []}
    assert len(sender.sent) == 1
