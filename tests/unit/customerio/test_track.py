from __future__ import annotations

import base64
import random
from typing import Any

import pytest
from urllib3 import HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, HTTPError, ProtocolError, ReadTimeoutError

from cio_sync.adapters.customerio.credentials import Credentials
from cio_sync.adapters.customerio.transport_policy import RetryPolicy
from cio_sync.customerio.batch import MAX_ITEM_BYTES, BatchResult, Delete, Event, Identify, Operation
from cio_sync.customerio.errors import (
    DeadlineExceeded,
    InvalidRequest,
    ItemNotApplied,
    NetworkError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    UnattributedBatchErrors,
    Unauthorized,
    WrongRegion,
)
from cio_sync_local.bench.track_v1 import TrackV1Client
from tests.observability import LogLines
from tests.unit.customerio.conftest import CREDENTIALS, metric_total
from tests.unit.customerio.fakes import Answer, FakeClock, FakeCustomerIo, Script, Seen

EVENT_ID = "01J0000000000000000000000A"
EMAIL = "ada.lovelace@example.com"
NAME = "Ada Lovelace"
PHONE = "+12125550199"


def client_with(clock: FakeClock, *script: Script, **options: Any) -> tuple[TrackV1Client, FakeCustomerIo]:
    fake = FakeCustomerIo(clock, *script)
    options.setdefault("rng", random.Random(7))
    client = TrackV1Client(CREDENTIALS, pool=fake, clock=clock, sleep=clock.sleep, **options)
    return client, fake


def test_identify_puts_flat_attributes_with_basic_auth_and_explicit_timeouts(clock: FakeClock) -> None:
    client, fake = client_with(clock)
    client.identify(
        Identify("m-1", {"source": "web", "unsubscribed": False, "removed": None, "n": 3.0}, 1700)
    )
    (seen,) = fake.seen
    assert (seen.method, seen.path) == ("PUT", "/api/v1/customers/m-1")
    # null removes the attribute, as the real service does (the OpenAPI document lists no null type; the
    # emulator's documented exception, which openapi_check applies too).
    assert seen.json == {"source": "web", "unsubscribed": False, "removed": None, "n": 3, "_timestamp": 1700}
    assert seen.headers["Authorization"] == "Basic " + base64.b64encode(b"site-1:track-secret-key").decode()
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.timeout == (3.05, 10.0)
    assert metric_total("CustomerIoRequests") == 1


def test_member_ids_are_escaped_into_one_path_segment(clock: FakeClock) -> None:
    client, fake = client_with(clock)
    client.delete(Delete("a/b c"))
    assert fake.seen[0].path == "/api/v1/customers/a%2Fb%20c"
    assert fake.seen[0].body is None


def test_an_attribute_v1_cannot_carry_is_refused_without_a_request(clock: FakeClock) -> None:
    client, fake = client_with(clock)
    with pytest.raises(InvalidRequest, match="attribute score is a float") as caught:
        client.identify(Identify("m-1", {"score": 1.5}))
    assert not caught.value.retryable
    assert fake.seen == []


def test_track_event_sends_its_deterministic_id_and_timestamp(clock: FakeClock) -> None:
    client, fake = client_with(clock)
    client.track_event(Event("m-1", "promotions_resubscribe", {"channel": "sms"}, EVENT_ID, 1_700_000_000))
    (seen,) = fake.seen
    assert (seen.method, seen.path) == ("POST", "/api/v1/customers/m-1/events")
    assert seen.json == {
        "name": "promotions_resubscribe",
        "id": EVENT_ID,
        "timestamp": 1_700_000_000,
        "data": {"channel": "sms"},
    }


def test_an_event_id_that_is_not_a_ulid_is_refused_without_a_request(clock: FakeClock) -> None:
    client, fake = client_with(clock)
    with pytest.raises(InvalidRequest, match="not a ULID"):
        client.track_event(Event("m-1", "e", {}, "intent-7", 1))
    assert fake.seen == []


@pytest.mark.parametrize(
    ("region", "base_url", "expected"),
    [
        ("us", None, "https://track.customer.io"),
        ("eu", None, "https://track-eu.customer.io"),
        ("eu", "http://127.0.0.1:8099/", "http://127.0.0.1:8099"),
    ],
)
def test_region_picks_the_host_unless_overridden(region: Any, base_url: str | None, expected: str) -> None:
    assert TrackV1Client(CREDENTIALS, region=region, base_url=base_url).base_url == expected


def test_batch_round_trip_reports_every_operation_succeeded(clock: FakeClock) -> None:
    client, fake = client_with(clock)
    operations: list[Operation] = [
        Identify("m-1", {"a": "b"}),
        Delete("m-2"),
        Event("m-3", "e", {}, EVENT_ID, 5),
    ]
    result = client.send_batch(operations)
    assert result.all_succeeded
    assert [result.succeeded(index) for index in range(3)] == [True, True, True]
    assert len(fake.seen) == 1
    assert [item["action"] for item in fake.seen[0].json["batch"]] == ["identify", "delete", "event"]


def big(member_id: str) -> Identify:
    return Identify(member_id, {"pad": "x" * 20_000})


def test_207_errors_map_back_to_the_operations_that_failed(clock: FakeClock) -> None:
    # 30 big items need two requests; a too-large one is refused in between; errors come back per request.
    operations: list[Operation] = [big(f"m-{index}") for index in range(30)]
    operations.insert(3, Identify("m-huge", {"pad": "x" * MAX_ITEM_BYTES}))

    def answer(seen: Seen) -> Answer:
        ids = [item["identifiers"]["id"] for item in seen.json["batch"]]
        failing = [position for position, member in enumerate(ids) if member in {"m-1", "m-27"}]
        errors = [
            {"batch_index": position, "reason": "invalid", "field": "attributes", "message": "bad " + NAME}
            for position in failing
        ]
        return Answer(207, {"errors": errors})

    client, fake = client_with(clock)
    fake.responder = answer
    result = client.send_batch(operations)
    assert len(fake.seen) == 2
    assert sorted(result.errors) == [1, 3, 28]  # m-1; m-huge (refused); m-27 (shifted by the insert)
    assert isinstance(result[3], PayloadTooLarge)
    for index in (1, 28):
        error = result[index]
        assert isinstance(error, InvalidRequest)
        assert error.status == 207
        assert not error.retryable
        assert "invalid: attributes: bad" in error.message
    assert result.succeeded(0)
    assert result.succeeded(30)
    assert metric_total("CustomerIoErrors") == 3


def test_207_error_that_names_no_item_fails_the_whole_request_as_retryable(clock: FakeClock) -> None:
    client, _ = client_with(clock, Answer(207, {"errors": [{"batch_index": 9, "reason": "odd"}]}))
    result = client.send_batch([Delete("m-1"), Delete("m-2")])
    assert result.failed_indices == [0, 1]
    # Nothing is known to be wrong with either operation: they are retried, never parked as rejected.
    assert all(isinstance(error, UnattributedBatchErrors) for error in (result[0], result[1]))
    assert all(error is not None and error.retryable for error in (result[0], result[1]))


@pytest.mark.parametrize(
    "reasons",
    [["rate_limited"], ["internal_error"], ["timeout"], ["Service Unavailable"], ["temporary failure"]],
)
def test_207_item_error_whose_reason_passes_is_retried(clock: FakeClock, reasons: list[str]) -> None:
    """A reason naming a condition no payload causes must not park the member's sync as rejected."""
    entries = [{"batch_index": 1, "reason": reason, "message": "try later"} for reason in reasons]
    client, _ = client_with(clock, Answer(207, {"errors": entries}))
    result = client.send_batch([Delete("m-1"), Delete("m-2")])
    assert result.failed_indices == [1]
    error = result[1]
    assert isinstance(error, ItemNotApplied)
    assert error.retryable
    assert error.status == 207


@pytest.mark.parametrize(
    "reasons",
    [["invalid"], ["too_long"], ["too_many"], ["required"], [""], ["timeout", "invalid"], [None]],
)
def test_207_item_error_for_an_invalid_item_is_permanent(clock: FakeClock, reasons: list[str | None]) -> None:
    """Customer.io documents a 207 item as invalid: any reason but a passing one (or none) cannot succeed."""
    entries: list[dict[str, Any]] = [{"batch_index": 0, "reason": reason} for reason in reasons]
    client, _ = client_with(clock, Answer(207, {"errors": entries}))
    result = client.send_batch([Delete("m-1"), Delete("m-2")])
    assert result.failed_indices == [0]
    error = result[0]
    assert isinstance(error, InvalidRequest)
    assert not error.retryable


def test_a_request_refused_as_a_whole_is_split_until_only_the_bad_operation_fails(clock: FakeClock) -> None:
    operations: list[Operation] = [big(f"m-{index}") for index in range(30)]
    client, fake = client_with(clock)
    accepted: list[str] = []

    def refuse_requests_holding_m_17(seen: Seen) -> Answer:
        ids = [item["identifiers"]["id"] for item in seen.json["batch"]]
        if "m-17" in ids:
            return Answer(400, {"errors": [{"reason": "malformed"}]})
        accepted.extend(ids)
        return Answer(200)

    fake.responder = refuse_requests_holding_m_17
    result = client.send_batch(operations)
    assert result.failed_indices == [17]
    assert isinstance(result[17], InvalidRequest)
    assert accepted == [f"m-{index}" for index in range(30) if index != 17]  # each once, in order


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (Answer(401), Unauthorized),
        (Answer(403), Unauthorized),
        (Answer(404), NotFound),
        (Answer(301, headers={"Location": "https://track-eu.customer.io/api/v2/batch"}), WrongRegion),
    ],
)
def test_broken_configuration_raises_at_once_instead_of_failing_operations(
    clock: FakeClock, answer: Answer, kind: type[Exception]
) -> None:
    client, fake = client_with(clock, answer)
    with pytest.raises(kind) as caught:
        client.send_batch([Delete("m-1")])
    assert caught.value.retryable  # type: ignore[attr-defined]
    assert len(fake.seen) == 1  # not retried in-process: every attempt would fail alike
    assert metric_total("CustomerIoConfigurationErrors") == 1


@pytest.mark.parametrize(("status", "kind"), [(429, RateLimited), (500, ServerError), (503, ServerError)])
def test_retryable_statuses_are_retried_then_surface_as_retryable(
    clock: FakeClock, status: int, kind: type[Exception]
) -> None:
    client, fake = client_with(clock, *[Answer(status)] * 4)
    with pytest.raises(kind) as caught:
        client.send_batch([Delete("m-1")])
    assert caught.value.retryable  # type: ignore[attr-defined]
    assert len(fake.seen) == 4
    assert len(clock.sleeps) == 3
    # Jittered exponential backoff: each step within [step/2, step] of 0.2 s, 0.4 s, 0.8 s.
    for sleep, step in zip(clock.sleeps, (0.2, 0.4, 0.8), strict=True):
        assert step / 2 <= sleep <= step
    assert metric_total("CustomerIoRetries") == 3
    assert metric_total("CustomerIoErrors") == 1
    assert metric_total(f"CustomerIoErrors{status}") == 1


@pytest.mark.parametrize(
    ("status", "kind", "steps"),
    [(503, ServerError, (0.002, 0.004, 0.008)), (429, RateLimited, (0.2, 0.4, 0.8))],
)
def test_on_a_compressed_clock_only_our_own_backoff_is_compressed(
    clock: FakeClock, status: int, kind: type[Exception], steps: tuple[float, ...]
) -> None:
    """The local stack's compressed tests (RetryPolicy.time_scale): a 5xx is retried that much sooner; a
    rate limit is Customer.io's clock, so its backoff and any Retry-After stay in real seconds."""
    compressed = RetryPolicy(time_scale=0.01)
    client, _ = client_with(clock, *[Answer(status)] * 4, retry=compressed)
    with pytest.raises(kind):
        client.send_batch([Delete("m-1")])
    for sleep, step in zip(clock.sleeps, steps, strict=True):
        assert step / 2 <= sleep <= step


def test_on_a_compressed_clock_a_retry_after_stays_in_real_seconds(clock: FakeClock) -> None:
    client, _ = client_with(
        clock, Answer(429, headers={"Retry-After": "2"}), Answer(200), retry=RetryPolicy(time_scale=0.01)
    )
    client.delete(Delete("m-1"))
    assert clock.sleeps == [pytest.approx(2.0)]


def test_a_retry_that_succeeds_is_a_success(clock: FakeClock) -> None:
    client, fake = client_with(clock, Answer(503), Answer(429), Answer(200))
    client.identify(Identify("m-1", {"a": "b"}))
    assert len(fake.seen) == 3
    assert metric_total("CustomerIoErrors") == 0


@pytest.mark.parametrize(
    "failure",
    [
        ProtocolError("reset"),
        ReadTimeoutError(HTTPSConnectionPool("track.customer.io"), "/", "slow"),
        ConnectTimeoutError("no"),
    ],
)
def test_network_failures_are_retried_then_surface_as_retryable(clock: FakeClock, failure: HTTPError) -> None:
    client, fake = client_with(clock, *[failure] * 4)
    with pytest.raises(NetworkError) as caught:
        client.delete(Delete("m-1"))
    assert caught.value.retryable
    assert caught.value.status is None
    assert len(fake.seen) == 4


def test_400_is_permanent_and_not_retried(clock: FakeClock) -> None:
    client, fake = client_with(clock, Answer(400, {"meta": {"errors": ["attribute too long"]}}))
    with pytest.raises(InvalidRequest, match="HTTP 400: attribute too long") as caught:
        client.identify(Identify("m-1", {"a": "b"}))
    assert not caught.value.retryable
    assert len(fake.seen) == 1


def test_retry_after_is_honoured(clock: FakeClock) -> None:
    client, _ = client_with(clock, Answer(429, headers={"Retry-After": "2"}), Answer(200))
    client.delete(Delete("m-1"))
    assert clock.sleeps[0] >= 2.0


def test_retry_after_past_the_deadline_is_not_waited_for(clock: FakeClock) -> None:
    client, fake = client_with(clock, Answer(429, headers={"Retry-After": "5"}))
    deadline = clock() + 3.0
    with pytest.raises(RateLimited) as caught:
        client.delete(Delete("m-1"), deadline=deadline)
    assert caught.value.retry_after == 5.0
    assert clock.sleeps == []
    assert len(fake.seen) == 1


def test_retry_after_longer_than_the_cap_is_not_waited_for(clock: FakeClock) -> None:
    client, _ = client_with(clock, Answer(429, headers={"Retry-After": "120"}))
    with pytest.raises(RateLimited):
        client.delete(Delete("m-1"))
    assert clock.sleeps == []


@pytest.mark.parametrize("budget", [0.05, 0.3, 1.0, 2.5])
def test_never_sleeps_or_waits_past_the_deadline(clock: FakeClock, budget: float) -> None:
    retry = RetryPolicy(max_attempts=50, base_delay_s=0.2, max_delay_s=1.0)
    client, fake = client_with(clock, *[Answer(503)] * 50, retry=retry)
    start = clock()
    deadline = start + budget
    with pytest.raises(ServerError):
        client.delete(Delete("m-1"), deadline=deadline)
    assert clock() <= deadline
    assert fake.seen
    for seen in fake.seen:
        connect, read = seen.timeout
        assert seen.at + read <= deadline + 1e-9  # no attempt may even wait on a socket past the deadline
        assert connect <= read


def test_a_deadline_already_passed_sends_nothing(clock: FakeClock) -> None:
    client, fake = client_with(clock)
    with pytest.raises(DeadlineExceeded) as caught:
        client.delete(Delete("m-1"), deadline=clock() - 0.01)
    assert caught.value.retryable
    assert fake.seen == []


def test_pacing_that_would_pass_the_deadline_sends_nothing(clock: FakeClock) -> None:
    client, fake = client_with(clock, rate_per_s=1)
    client.delete(Delete("m-1"))
    with pytest.raises(DeadlineExceeded):
        client.delete(Delete("m-2"), deadline=clock() + 0.5)
    assert len(fake.seen) == 1
    assert clock.sleeps == []


def test_pacing_spaces_requests_at_the_configured_rate(clock: FakeClock) -> None:
    client, fake = client_with(clock, rate_per_s=20)
    for index in range(60):
        client.delete(Delete(f"m-{index}"))
    times = [seen.at for seen in fake.seen]
    peak = max(sum(1 for other in times if start <= other < start + 1.0) for start in times)
    assert peak <= 20


def test_no_personal_data_in_errors_or_logs(clock: FakeClock, log_lines: LogLines) -> None:
    echo = {"meta": {"errors": [f"value {NAME} of first_name invalid for {EMAIL}, phone {PHONE}"]}}
    client, _ = client_with(clock, Answer(503, echo), Answer(400, echo))
    attributes = {"first_name": NAME, "email": EMAIL, "mobile": PHONE}
    with pytest.raises(InvalidRequest) as caught:
        client.identify(Identify("m-1", attributes))
    batch_client, _ = client_with(
        clock, Answer(207, {"errors": [{"batch_index": 0, "message": echo["meta"]}]})
    )
    result = batch_client.send_batch([Identify("m-1", attributes)])
    texts = [str(caught.value), repr(caught.value), str(result[0]), repr(result[0]), log_lines.text]
    assert "Customer.io call failed" in log_lines.text
    for text in texts:
        for secret in (NAME, "Ada", EMAIL, "example.com", PHONE, "555", "track-secret-key"):
            assert secret not in text


def test_dry_run_logs_names_only_and_calls_nothing(clock: FakeClock, log_lines: LogLines) -> None:
    client, fake = client_with(clock, enabled=False)
    client.identify(Identify("m-1", {"first_name": NAME, "email": EMAIL}))
    client.delete(Delete("m-2"))
    client.track_event(Event("m-3", "promotions_resubscribe", {"mobile": PHONE}, EVENT_ID, 1))
    result = client.send_batch([Identify("m-4", {"email": EMAIL}), Delete("m-5")])
    assert fake.seen == []
    assert result == BatchResult(2, {})
    entries = [entry for entry in log_lines.entries if entry["message"] == "Customer.io dry run: not sent"]
    assert [(entry["operation"], entry["member_id"]) for entry in entries] == [
        ("identify", "m-1"),
        ("delete", "m-2"),
        ("event", "m-3"),
        ("batch identify", "m-4"),
        ("batch delete", "m-5"),
    ]
    assert entries[0]["field_names"] == ["email", "first_name"]
    assert entries[2]["event_name"] == "promotions_resubscribe"
    for secret in (NAME, EMAIL, PHONE):
        assert secret not in log_lines.text


def test_credentials_are_read_for_every_request_so_rotation_needs_no_restart(clock: FakeClock) -> None:
    keys = iter(["old-key", "new-key"])
    fake = FakeCustomerIo(clock)
    client = TrackV1Client(
        lambda: Credentials("site-1", next(keys), "app"),
        pool=fake,
        clock=clock,
        sleep=clock.sleep,
    )
    client.delete(Delete("m-1"))
    client.delete(Delete("m-2"))
    sent = [base64.b64decode(seen.headers["Authorization"].split()[1]).decode() for seen in fake.seen]
    assert sent == ["site-1:old-key", "site-1:new-key"]


def test_batch_result_indexing() -> None:
    result = BatchResult(2, {1: InvalidRequest(400, "x")})
    assert result[0] is None
    assert not result.succeeded(1)
    assert len(result) == 2
    with pytest.raises(IndexError):
        result[2]


def test_error_text_is_taken_from_every_customer_io_error_shape(clock: FakeClock) -> None:
    client, _ = client_with(
        clock, Answer(400, {"errors": [{"reason": "required", "field": "name", "message": "missing"}]})
    )
    with pytest.raises(InvalidRequest, match="required: name: missing"):
        client.delete(Delete("m-1"))
    plain, _ = client_with(clock, Answer(400, "not json"))
    with pytest.raises(InvalidRequest, match="not json"):
        plain.delete(Delete("m-1"))
