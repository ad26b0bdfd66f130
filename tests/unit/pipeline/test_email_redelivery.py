"""The email consumer's park-or-retry decisions (the shared redelivery rule), with fakes."""

import itertools

import pytest

from cio_sync.customerio.errors import CredentialsError, InvalidRequest, ServerError, Unauthorized
from cio_sync.pipeline.email_consumer import consume_email, queued_email
from cio_sync.pipeline.messages import InboundMessage
from cio_sync.sync.intents import SendEmail
from tests.unit.pipeline.email_fakes import FakeClaims, Members, Sender, email_ports

MEMBER = {"id": "5f1e2d3c4b5a69788796a5b4", "email": "a@example.org"}
BODY = SendEmail(
    "reset-1", MEMBER["id"], "forgot_password", {"url": "https://example.org/r?t=secret"}
).to_json()
NOW_S = 1_790_000_000.0


def message(receives: int, body: str = BODY) -> InboundMessage:
    return InboundMessage("m-1", "", body, receives, f"receipt-{receives}")


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
    claims = FakeClaims()
    ports, visibility, dead = email_ports(Members(MEMBER), Sender(fail=error), claims)
    for receives in (1, 2, 3, 4):
        with pytest.raises(type(error)):
            consume_email(
                queued_email(message(receives)), ports, now_s=NOW_S, lease_until_s=NOW_S + 60, deadline=None
            )
        assert claims.records == {}  # released: the next receive may send at once
    assert dead.parked == []
    # Each failure comes back later than the one before (backoff), never at once.
    delays = [seconds for _, seconds in visibility.postponed]
    assert [receipt for receipt, _ in visibility.postponed] == [f"receipt-{n}" for n in (1, 2, 3, 4)]
    assert all(later >= earlier for earlier, later in itertools.pairwise(delays))
    outcome = consume_email(
        queued_email(message(5)), ports, now_s=NOW_S, lease_until_s=NOW_S + 60, deadline=None
    )
    assert outcome == "parked"
    ((body, parked_reason),) = dead.parked
    assert body == BODY
    assert parked_reason.startswith(reason)


def test_a_permanent_rejection_is_parked_at_once() -> None:
    ports, _, dead = email_ports(Members(MEMBER), Sender(fail=InvalidRequest(400, "bad `to`")))
    queued = queued_email(message(1))
    assert consume_email(queued, ports, now_s=NOW_S, lease_until_s=NOW_S + 60, deadline=None) == "parked"
    assert dead.parked[0][1].startswith("Customer.io: ")


def test_a_malformed_body_is_parked_without_claiming_or_calling_anything() -> None:
    claims = FakeClaims()
    ports, _, dead = email_ports(Members(), Sender(fail=AssertionError("called")), claims)
    queued = queued_email(message(1, body="{not json"))
    assert queued.intent is None
    assert consume_email(queued, ports, now_s=NOW_S, lease_until_s=NOW_S + 60, deadline=None) == "parked"
    assert dead.parked[0][1].startswith("MalformedIntent: ")
    assert claims.records == {}


def test_an_expired_reset_is_parked_as_expired_and_never_sent() -> None:
    expired = SendEmail("reset-2", MEMBER["id"], "forgot_password", {"url": "https://x.org/r"}, expires_at=1)
    sender = Sender()
    ports, _, dead = email_ports(Members(MEMBER), sender)
    body = expired.to_json()
    queued = queued_email(message(1, body=body))
    assert consume_email(queued, ports, now_s=NOW_S, lease_until_s=NOW_S + 60, deadline=None) == "expired"
    assert dead.parked == [(body, "expired: its validity ended before it could be sent")]
    assert sender.sent == []
