"""The email handler's park-or-retry decisions, with fakes (sockets disabled)."""

import itertools
import random
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from cio_sync.customerio.errors import CredentialsError, InvalidRequest, ServerError, Unauthorized
from cio_sync.handlers.email import handle_record
from cio_sync.pipeline.redelivery import Redelivery
from cio_sync.pipeline.wiring import EmailDeps
from cio_sync.settings import Settings
from cio_sync.sync.intents import SendEmail
from tests.unit.pipeline.fakes import FakeVisibility

MEMBER = "5f1e2d3c4b5a69788796a5b4"
BODY = SendEmail("reset-1", MEMBER, "forgot_password", {"url": "https://example.org/r?t=secret"}).to_json()


class DeadLetters:
    def __init__(self) -> None:
        self.parked: list[tuple[str, str]] = []

    def dead_letter(self, body: str, reason: str) -> None:
        self.parked.append((body, reason))


def record(receives: int, body: str = BODY) -> SQSRecord:
    return SQSRecord(
        {
            "messageId": "m-1",
            "receiptHandle": f"receipt-{receives}",
            "body": body,
            "attributes": {"ApproximateReceiveCount": str(receives)},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
        }
    )


def failing(error: Exception) -> Any:
    def send(**_: Any) -> dict[str, Any]:
        raise error

    return send


def deps(dead: DeadLetters, visibility: FakeVisibility | None = None) -> EmailDeps:
    redelivery = Redelivery(visibility or FakeVisibility(), max_receives=5, rng=random.Random(1))
    return EmailDeps(members=None, app=None, dead_letters=dead, redelivery=redelivery, config=Settings())  # type: ignore[arg-type]


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
            handle_record(record(receives=receives), deps(dead, visibility), None, failing(error))
    assert dead.parked == []
    # Each failure comes back later than the one before (backoff), never at once.
    delays = [seconds for _, seconds in visibility.postponed]
    assert [receipt for receipt, _ in visibility.postponed] == [f"receipt-{n}" for n in (1, 2, 3, 4)]
    assert all(later >= earlier for earlier, later in itertools.pairwise(delays))
    handle_record(record(receives=5), deps(dead, visibility), None, failing(error))
    ((body, parked_reason),) = dead.parked
    assert body == BODY
    assert parked_reason.startswith(reason)


def test_a_permanent_rejection_is_parked_at_once() -> None:
    dead = DeadLetters()
    handle_record(record(receives=1), deps(dead), None, failing(InvalidRequest(400, "bad `to`")))
    assert dead.parked[0][1].startswith("Customer.io: ")


def test_a_malformed_body_is_parked_without_calling_anything() -> None:
    dead = DeadLetters()
    handle_record(record(receives=1, body="{not json"), deps(dead), None, failing(AssertionError("called")))
    assert dead.parked[0][1].startswith("MalformedIntent: ")


def test_an_expired_reset_is_parked_as_expired() -> None:
    dead = DeadLetters()
    expired = SendEmail(
        "reset-2", MEMBER, "forgot_password", {"url": "https://x.org/r"}, expires_at=1
    ).to_json()

    def send(**kwargs: Any) -> dict[str, Any]:
        from cio_sync.pipeline.email import send_transactional  # noqa: PLC0415

        intent = SendEmail("reset-2", MEMBER, "forgot_password", {"url": "https://x.org/r"}, expires_at=1)
        send_transactional(intent, None, None, Settings().customer_io, deadline=None, now_s=2)  # type: ignore[arg-type]
        raise AssertionError("sent")

    handle_record(record(receives=1, body=expired), deps(dead), None, send)
    assert dead.parked == [(expired, "expired: its validity ended before it could be sent")]
