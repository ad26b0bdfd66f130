"""The email handler's park-or-retry decisions, with fakes (sockets disabled)."""

from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from cio_sync.customerio.errors import CredentialsError, InvalidRequest, ServerError
from cio_sync.handlers.email import handle_record
from cio_sync.pipeline.wiring import EmailDeps
from cio_sync.settings import Settings
from cio_sync.sync.intents import SendEmail

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


def deps(dead: DeadLetters) -> EmailDeps:
    return EmailDeps(members=None, app=None, dead_letters=dead, config=Settings(max_receive_count=5))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ServerError(503, "unavailable"), "Customer.io: "),
        (CredentialsError("secret lacks app_api_key"), "gave up after 5 receives: CredentialsError"),
    ],
)
def test_a_failure_that_may_pass_is_retried_until_the_last_receive_then_parked_with_its_reason(
    error: Exception, reason: str
) -> None:
    dead = DeadLetters()
    with pytest.raises(type(error)):
        handle_record(record(receives=1), deps(dead), None, failing(error))
    assert dead.parked == []
    handle_record(record(receives=5), deps(dead), None, failing(error))
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
