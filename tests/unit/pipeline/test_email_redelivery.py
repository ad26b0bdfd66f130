"""The email consumer's park-or-retry decisions (the shared redelivery rule), with fakes."""

import itertools
import random

import pytest

from cio_sync.customerio.errors import CredentialsError, InvalidRequest, ServerError, Unauthorized
from cio_sync.pipeline.email_consumer import (
    EmailMessages,
    SendOnce,
    consume_email,
    send_transactional,
)
from cio_sync.pipeline.messages import InboundMessage
from cio_sync.pipeline.redelivery import Redelivery
from cio_sync.sync.intents import SendEmail
from tests.unit.pipeline.fakes import FakeVisibility

MEMBER = "5f1e2d3c4b5a69788796a5b4"
BODY = SendEmail("reset-1", MEMBER, "forgot_password", {"url": "https://example.org/r?t=secret"}).to_json()
MESSAGES = EmailMessages(identifier_id="placeholder", forgot_password="7", password_updated="8")


class DeadLetters:
    def __init__(self) -> None:
        self.parked: list[tuple[str, str]] = []

    def dead_letter(self, body: str, reason: str) -> None:
        self.parked.append((body, reason))


def message(receives: int, body: str = BODY) -> InboundMessage:
    return InboundMessage("m-1", "", body, receives, f"receipt-{receives}")


def failing(error: Exception) -> SendOnce:
    def send(intent: SendEmail, body: str, deadline: float | None) -> None:
        raise error

    return send


def redelivery(visibility: FakeVisibility | None = None) -> Redelivery:
    return Redelivery(visibility or FakeVisibility(), max_receives=5, rng=random.Random(1))


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ServerError(503, "unavailable"), "gave up after 5 receives: Customer.io: "),
        (Unauthorized(401, "wrong key"), "gave up after 5 receives: Customer.io: "),
        (CredentialsError("secret lacks app_api_key"), "gave up after 5 receives: CredentialsError"),
    ],
)
def test_a_failure_that_may_pass_is_retried_until_the_last_receive_then_parked_with_its_reason(
    error: Exception, reason: str
) -> None:
    dead, visibility = DeadLetters(), FakeVisibility()
    for receives in (1, 2, 3, 4):
        with pytest.raises(type(error)):
            consume_email(message(receives), failing(error), dead, redelivery(visibility), deadline=None)
    assert dead.parked == []
    # Each failure comes back later than the one before (backoff), never at once.
    delays = [seconds for _, seconds in visibility.postponed]
    assert [receipt for receipt, _ in visibility.postponed] == [f"receipt-{n}" for n in (1, 2, 3, 4)]
    assert all(later >= earlier for earlier, later in itertools.pairwise(delays))
    assert consume_email(message(5), failing(error), dead, redelivery(visibility), deadline=None) == "parked"
    ((body, parked_reason),) = dead.parked
    assert body == BODY
    assert parked_reason.startswith(reason)


def test_a_permanent_rejection_is_parked_at_once() -> None:
    dead = DeadLetters()
    sent = failing(InvalidRequest(400, "bad `to`"))
    assert consume_email(message(1), sent, dead, redelivery(), deadline=None) == "parked"
    assert dead.parked[0][1].startswith("Customer.io: ")


def test_a_malformed_body_is_parked_without_calling_anything() -> None:
    dead = DeadLetters()
    called = failing(AssertionError("called"))
    assert consume_email(message(1, body="{not json"), called, dead, redelivery(), deadline=None) == "parked"
    assert dead.parked[0][1].startswith("MalformedIntent: ")


def test_an_expired_reset_is_parked_as_expired() -> None:
    dead = DeadLetters()
    expired = SendEmail("reset-2", MEMBER, "forgot_password", {"url": "https://x.org/r"}, expires_at=1)

    class NoMembers:
        def get(self, member_id: str, consistent: bool = True) -> None:
            raise AssertionError("read")

    class NoSender:
        def send_email(self, *args: object, **kwargs: object) -> str:
            raise AssertionError("sent")

    def send(intent: SendEmail, body: str, deadline: float | None) -> None:
        send_transactional(intent, NoMembers(), NoSender(), MESSAGES, deadline=deadline, now_s=2)

    body = expired.to_json()
    assert consume_email(message(1, body=body), send, dead, redelivery(), deadline=None) == "expired"
    assert dead.parked == [(body, "expired: its validity ended before it could be sent")]
