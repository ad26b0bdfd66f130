from __future__ import annotations

import random
from typing import Any

import pytest
from urllib3 import HTTPSConnectionPool
from urllib3.connection import HTTPConnection
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from cio_sync.adapters.customerio.app_client import DRY_RUN_DELIVERY_ID, AppClient
from cio_sync.customerio.errors import (
    DeadlineExceeded,
    InvalidRequest,
    NetworkError,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    ServerError,
)
from tests.observability import LogLines
from tests.unit.customerio.conftest import CREDENTIALS, metric_total
from tests.unit.customerio.fakes import Answer, FakeClock, FakeCustomerIo, Script

EMAIL = "grace.hopper@example.org"
NAME = "Grace Hopper"


def client_with(clock: FakeClock, *script: Script, **options: Any) -> tuple[AppClient, FakeCustomerIo]:
    fake = FakeCustomerIo(clock, *script)
    options.setdefault("rng", random.Random(3))
    client = AppClient(CREDENTIALS, pool=fake, clock=clock, sleep=clock.sleep, **options)
    return client, fake


def send(client: AppClient, deadline: float | None = None) -> str:
    return client.send_email(
        EMAIL,
        "forgot_password",
        "cio-sync-transactional",
        {"first_name": NAME, "reset_url": "https://x/r"},
        deadline,
    )


def test_send_email_posts_the_documented_body_with_bearer_auth(clock: FakeClock) -> None:
    client, fake = client_with(clock, Answer(200, {"delivery_id": "dlv-1", "queued_at": 1}))
    assert send(client) == "dlv-1"
    (seen,) = fake.seen
    assert (seen.method, seen.path) == ("POST", "/v1/send/email")
    assert seen.headers["Authorization"] == "Bearer app-secret-key"
    assert seen.json == {
        "to": EMAIL,
        "transactional_message_id": "forgot_password",
        "identifiers": {"id": "cio-sync-transactional"},
        "message_data": {"first_name": NAME, "reset_url": "https://x/r"},
        "disable_message_retention": True,  # the reset link must not sit in Customer.io's history
        "send_to_unsubscribed": True,  # a shared placeholder once unsubscribed must not suppress resets
    }
    assert seen.timeout == (3.05, 10.0)


@pytest.mark.parametrize(
    ("region", "expected"), [("us", "https://api.customer.io"), ("eu", "https://api-eu.customer.io")]
)
def test_region_picks_the_app_host(region: Any, expected: str) -> None:
    assert AppClient(CREDENTIALS, region=region).base_url == expected


def test_429_is_retried_because_nothing_was_sent(clock: FakeClock) -> None:
    client, fake = client_with(clock, Answer(429), Answer(200, {"delivery_id": "dlv-2"}))
    assert send(client) == "dlv-2"
    assert len(fake.seen) == 2
    assert metric_total("CustomerIoRetries") == 1


def test_429_until_attempts_run_out_surfaces_as_rate_limited(clock: FakeClock) -> None:
    client, fake = client_with(clock, *[Answer(429)] * 4)
    with pytest.raises(RateLimited):
        send(client)
    assert len(fake.seen) == 4


def test_a_connection_that_never_opened_is_retried(clock: FakeClock) -> None:
    # What urllib3 raises when the TCP connection is refused: the request never left this process.
    refused = NewConnectionError(HTTPConnection("api.customer.io"), "Connection refused")
    client, fake = client_with(clock, refused, Answer(200, {"delivery_id": "dlv-3"}))
    assert send(client) == "dlv-3"
    assert len(fake.seen) == 2


def test_connect_timeouts_exhausted_surface_as_network_errors(clock: FakeClock) -> None:
    client, _ = client_with(clock, *[ConnectTimeoutError("no")] * 4)
    with pytest.raises(NetworkError):
        send(client)


@pytest.mark.parametrize(
    "failure",
    [ReadTimeoutError(HTTPSConnectionPool("api.customer.io"), "/", "slow"), ProtocolError("reset by peer")],
)
def test_a_send_that_may_have_happened_is_not_retried(clock: FakeClock, failure: HTTPError) -> None:
    client, fake = client_with(clock, failure)
    with pytest.raises(OutcomeUnknown) as caught:
        send(client)
    assert caught.value.retryable
    assert len(fake.seen) == 1


def test_5xx_is_retryable_but_not_retried_in_process(clock: FakeClock) -> None:
    client, fake = client_with(clock, Answer(503, {"meta": {"error": "unavailable"}}))
    with pytest.raises(ServerError) as caught:
        send(client)
    assert caught.value.retryable
    assert len(fake.seen) == 1


def test_400_is_permanent_and_scrubbed(clock: FakeClock, log_lines: LogLines) -> None:
    client, _ = client_with(
        clock, Answer(400, {"meta": {"error": f"to {EMAIL} ({NAME}) is not deliverable"}})
    )
    with pytest.raises(InvalidRequest) as caught:
        send(client)
    assert not caught.value.retryable
    assert "is not deliverable" in str(caught.value)
    for text in (str(caught.value), repr(caught.value), log_lines.text):
        assert EMAIL not in text
        assert "Grace" not in text
        assert "app-secret-key" not in text


def test_an_answer_without_delivery_id_is_not_retryable(clock: FakeClock) -> None:
    client, _ = client_with(clock, Answer(200, {"queued_at": 1}))
    with pytest.raises(PermanentError, match="no delivery id"):
        send(client)


def test_deadline_passed_sends_nothing(clock: FakeClock) -> None:
    client, fake = client_with(clock)
    with pytest.raises(DeadlineExceeded):
        send(client, deadline=clock() - 1)
    assert fake.seen == []


def test_default_pacing_is_ten_per_second(clock: FakeClock) -> None:
    client, fake = client_with(clock, *[Answer(200, {"delivery_id": "d"})] * 30)
    for _ in range(30):
        send(client)
    times = [seen.at for seen in fake.seen]
    assert max(sum(1 for other in times if start <= other < start + 1.0) for start in times) <= 10


def test_dry_run_logs_no_address_and_sends_nothing(clock: FakeClock, log_lines: LogLines) -> None:
    client, fake = client_with(clock, enabled=False)
    assert send(client) == DRY_RUN_DELIVERY_ID
    assert fake.seen == []
    (entry,) = [entry for entry in log_lines.entries if entry["message"].startswith("Customer.io dry run")]
    assert entry["operation"] == "send_email"
    assert entry["transactional_message_id"] == "forgot_password"
    assert entry["field_names"] == ["first_name", "reset_url"]
    assert EMAIL not in log_lines.text
    assert NAME not in log_lines.text
