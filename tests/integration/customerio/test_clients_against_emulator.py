"""The clients over real HTTP against the local Customer.io, which validates every Track request against
Customer.io's OpenAPI document and enforces the documented limits."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest

from cio_sync.adapters.customerio.app_client import AppClient
from cio_sync.adapters.customerio.credentials import Credentials
from cio_sync.adapters.customerio.transport_policy import RetryPolicy, Timeouts
from cio_sync.customerio.batch import MAX_ITEM_BYTES, Delete, Event, Identify, Operation, plan
from cio_sync.customerio.errors import (
    InvalidRequest,
    NetworkError,
    OutcomeUnknown,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    Unauthorized,
)
from cio_sync.observability import metrics
from cio_sync_local.bench.track_v1 import TrackV1Client
from cio_sync_local.emulator import Emulator
from tests.integration.customerio.conftest import EMULATOR_CREDENTIALS, Control
from tests.observability import LogLines

pytestmark = pytest.mark.integration

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05)
EMAIL = "ada.lovelace@example.com"
NAME = "Ada Lovelace"
PHONE = "+12125550199"


def ulid(n: int) -> str:
    return f"01J{n:023d}"


def track(emulator: Emulator, **options: Any) -> TrackV1Client:
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("rate_per_s", 1000)
    return TrackV1Client(options.pop("credentials", EMULATOR_CREDENTIALS), base_url=emulator.url, **options)


def app(emulator: Emulator, **options: Any) -> AppClient:
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("rate_per_s", 1000)
    return AppClient(EMULATOR_CREDENTIALS, base_url=emulator.url, **options)


def test_identify_event_delete_round_trip(cio_emulator: Emulator, control: Control) -> None:
    client = track(cio_emulator)
    client.identify(Identify("m-1", {"source": "web", "sms_status": "active", "level": 3}, 1_700_000_000))
    client.identify(Identify("m-1", {"sms_status": None}))  # None removes the attribute
    event = Event("m-1", "promotions_resubscribe", {"channel": "email"}, ulid(1), 1_700_000_001)
    client.track_event(event)
    client.track_event(event)  # a replay: Customer.io ignores the repeated event id
    assert control.get("profiles/m-1")["attributes"] == {"source": "web", "level": 3}
    (stored,) = control.get("events")
    assert (stored["person_id"], stored["id"], stored["timestamp"]) == ("m-1", ulid(1), 1_700_000_001)
    client.delete(Delete("m-1"))
    client.delete(Delete("m-1"))  # deleting a missing person is fine
    assert "m-1" not in control.get("profiles")
    assert control.get("stats")["requests_by_status"] == {"200": 6}


def test_batch_round_trip(cio_emulator: Emulator, control: Control) -> None:
    client = track(cio_emulator)
    client.identify(Identify("m-3", {"a": "b"}))
    operations: list[Operation] = [
        Identify("m-1", {"source": "sms", "score": 1.5, "removed": None}, 1_700_000_000),
        Identify("m-2", {"source": "web"}),
        Event("m-2", "promotions_resubscribe", {}, ulid(2), 1_700_000_002),
        Delete("m-3"),
    ]
    result = client.send_batch(operations)
    assert result.all_succeeded
    assert control.get("profiles") == {"m-1": {"source": "sms", "score": 1.5}, "m-2": {"source": "web"}}
    assert [event["name"] for event in control.get("events")] == ["promotions_resubscribe"]
    batch_requests = [r for r in control.get("requests") if r["path"] == "/api/v2/batch"]
    assert [(r["status"], r["operations"]) for r in batch_requests] == [(200, 4)]


def test_207_partial_failure_is_mapped_to_the_operations_that_failed(
    cio_emulator: Emulator, control: Control
) -> None:
    operations: list[Operation] = [
        Identify("m-1", {"ok": "yes"}),
        Identify("m-2", {"bio": "x" * 1001}),  # attribute value over 1000 bytes
        Event("m-3", "e" * 101, {}, ulid(3), 1),  # event name over 100 bytes
        Identify("m-4", {"n" * 151: "name too long"}),  # attribute name over 150 bytes
        Delete("m-5"),
    ]
    result = track(cio_emulator).send_batch(operations)
    assert result.failed_indices == [1, 2, 3]
    for index in (1, 2, 3):
        error = result[index]
        assert isinstance(error, InvalidRequest)
        assert error.status == 207
        assert not error.retryable
    assert set(control.get("profiles")) == {"m-1"}


def wide_identify(member_id: str, attribute_count: int) -> Identify:
    """About 1 KB per attribute: big items made of values within Customer.io's 1000-byte value limit."""
    return Identify(member_id, {f"attribute_{n:03}": "v" * 950 for n in range(attribute_count)})


def test_batches_split_at_the_size_limits_and_oversized_items_are_refused(
    cio_emulator: Emulator, control: Control
) -> None:
    operations: list[Operation] = [wide_identify(f"m-{n:02}", 20) for n in range(60)]  # ~19.4 KB each
    operations.insert(7, wide_identify("m-huge", 40))  # ~39 KB: over the 32 KB item limit
    expected_requests = len(plan(operations).requests)
    result = track(cio_emulator).send_batch(operations)
    assert result.failed_indices == [7]
    assert isinstance(result[7], PayloadTooLarge)
    batch_requests = [r for r in control.get("requests") if r["path"] == "/api/v2/batch"]
    assert len(batch_requests) == expected_requests == 3  # 25 such items fit under 500 KB, 26 do not
    assert all(r["status"] == 200 for r in batch_requests)
    assert [r["operations"] for r in batch_requests] == [25, 25, 10]
    assert len(control.get("profiles")) == 60


def test_an_item_at_the_limit_is_accepted(cio_emulator: Emulator, control: Control) -> None:
    base = wide_identify("m-edge", 32)
    packing = plan([base])
    padding = MAX_ITEM_BYTES - len(packing.encoded[0])
    pad = "p" * (padding - len(',"pad":""'))
    assert 0 < len(pad) <= 1000  # within Customer.io's attribute value limit
    edge = Identify("m-edge", {**base.attributes, "pad": pad})
    assert len(plan([edge]).encoded[0]) == MAX_ITEM_BYTES
    assert track(cio_emulator).send_batch([edge]).all_succeeded
    assert "m-edge" in control.get("profiles")


@pytest.mark.parametrize(("status", "kind"), [(429, RateLimited), (503, ServerError), (500, ServerError)])
def test_retryable_statuses_are_retried_then_surface_as_retryable(
    cio_emulator: Emulator, control: Control, status: int, kind: type[Exception]
) -> None:
    control.faults(fail_ratio=1.0, fail_status=status)
    with pytest.raises(kind) as caught:
        track(cio_emulator).send_batch([Delete("m-1")])
    assert caught.value.retryable  # type: ignore[attr-defined]
    assert control.get("stats")["requests_by_status"] == {str(status): FAST_RETRY.max_attempts}


class FakeTime:
    """One clock for the client and the emulator: a sleep moves it on, so no real time passes."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.lock = threading.Lock()

    def clock(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += max(seconds, 0.0)


def test_the_emulators_rate_limit_is_retried_through() -> None:
    fake = FakeTime()
    with Emulator(
        site_id="site", track_api_key="track-key", app_api_key="app-key", clock=fake.clock
    ) as emulator:
        emulator.set_faults(rate_limit_per_s=5)
        retry = RetryPolicy(max_attempts=8, base_delay_s=0.2, max_delay_s=0.8)
        client = track(emulator, retry=retry, clock=fake.clock, sleep=fake.sleep)
        for n in range(8):
            client.delete(Delete(f"m-{n}"))
        by_status = emulator.stats()["requests_by_status"]
    assert by_status["200"] == 8
    # No time passes between requests but the client's own backoff, so the sixth is refused for certain.
    assert by_status["429"] >= 1


def test_intermittent_failures_and_dropped_connections_are_retried(
    cio_emulator: Emulator, control: Control
) -> None:
    control.faults(fail_ratio=0.3, drop_ratio=0.2, seed=11)
    client = track(cio_emulator, retry=RetryPolicy(max_attempts=10, base_delay_s=0.01, max_delay_s=0.02))
    for n in range(10):
        client.identify(Identify(f"m-{n}", {"n": n}))
    assert len(control.get("profiles")) == 10
    stats = control.get("stats")
    assert stats["faults_failed"] + stats["faults_dropped"] > 0


def test_dropped_connections_exhausted_surface_as_network_errors(
    cio_emulator: Emulator, control: Control
) -> None:
    control.faults(drop_ratio=1.0)
    with pytest.raises(NetworkError):
        track(cio_emulator).delete(Delete("m-1"))
    with pytest.raises(OutcomeUnknown):  # an email may have gone out: not retried in-process
        app(cio_emulator).send_email(EMAIL, "forgot_password", "placeholder", {})
    assert control.get("stats")["faults_dropped"] == FAST_RETRY.max_attempts + 1


def test_400_is_permanent(cio_emulator: Emulator, control: Control) -> None:
    client = track(cio_emulator)
    with pytest.raises(InvalidRequest) as caught:
        client.identify(Identify("m-" + "9" * 150, {"a": "b"}))  # id over 150 bytes
    assert not caught.value.retryable
    control.faults(fail_ratio=1.0, fail_status=400)
    result = client.send_batch([Delete("m-1"), Delete("m-2")])
    assert result.failed_indices == [0, 1]
    assert all(isinstance(result[index], InvalidRequest) for index in (0, 1))
    # identify once, the batch once, then each half alone once to find the culprit: nothing retried
    assert control.get("stats")["requests_by_status"] == {"400": 4}


def test_wrong_credentials_are_permanent_and_raise(cio_emulator: Emulator) -> None:
    wrong = Credentials("site", "wrong-key", "wrong-key")
    with pytest.raises(Unauthorized):
        track(cio_emulator, credentials=wrong).send_batch([Delete("m-1")])
    with pytest.raises(Unauthorized):
        AppClient(wrong, base_url=cio_emulator.url).send_email(EMAIL, "m", "placeholder", {})


def attempts_made() -> int:
    entry = metrics.metric_set.get("CustomerIoRequests")
    return len(entry["Value"]) if entry else 0


def let_abandoned_requests_finish(control: Control, attempts: int) -> None:
    """The emulator finishes a request the client stopped waiting for: wait, so no later test sees it."""
    give_up = time.monotonic() + 30
    while control.get("stats")["requests_total"] < attempts:
        assert time.monotonic() < give_up, "an abandoned request never finished"
        time.sleep(0.02)


def test_a_failing_service_is_retried_until_the_deadline_and_no_further(
    cio_emulator: Emulator, control: Control
) -> None:
    control.faults(fail_ratio=1.0, fail_status=503)
    client = track(cio_emulator, retry=RetryPolicy(max_attempts=1000, base_delay_s=0.05, max_delay_s=0.1))
    deadline = time.monotonic() + 2
    with pytest.raises((ServerError, NetworkError)) as caught:
        client.delete(Delete("m-1"), deadline=deadline)
    assert caught.value.retryable
    # Stopped by the deadline, not by running out of attempts (1000 would take over a minute).
    assert time.monotonic() < deadline + 5
    assert 2 <= attempts_made() < 1000
    let_abandoned_requests_finish(control, attempts_made())


def test_a_service_that_does_not_answer_is_cut_off_at_the_deadline(
    cio_emulator: Emulator, control: Control
) -> None:
    """The emulator holds the request unanswered; the client's read timeout (60 s) would wait for it,
    the deadline (0.5 s) must not."""
    with cio_emulator.holding():
        deadline = time.monotonic() + 0.5
        with pytest.raises(NetworkError):
            track(cio_emulator, timeouts=Timeouts(read_s=60)).delete(Delete("m-1"), deadline=deadline)
        assert time.monotonic() < deadline + 5
        assert attempts_made() == 1
    let_abandoned_requests_finish(control, 1)


def test_a_refused_connection_is_retried_even_for_email() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe closes
    client = AppClient(EMULATOR_CREDENTIALS, base_url=f"http://127.0.0.1:{port}", retry=FAST_RETRY)
    with pytest.raises(NetworkError) as caught:  # not OutcomeUnknown: it never left this process
        client.send_email(EMAIL, "forgot_password", "placeholder", {})
    assert type(caught.value) is NetworkError


def test_track_pacing_holds_the_configured_rate(cio_emulator: Emulator, control: Control) -> None:
    """Pacing can only make the client slower, never faster: both checks hold on any machine. The exact
    spacing is proven on a fake clock in tests/unit/customerio/test_pacing.py."""
    rate, requests_sent = 40, 100
    control.faults(rate_limit_per_s=60)  # headroom over the client's rate: only an unpaced client hits it
    client = track(cio_emulator, rate_per_s=rate)
    errors: list[BaseException] = []

    def send(worker: int) -> None:
        try:
            for n in range(requests_sent // 4):
                client.delete(Delete(f"pace-{worker}-{n}"))
        except Exception as error:  # reported to the test thread below
            errors.append(error)

    started = time.monotonic()
    threads = [threading.Thread(target=send, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert errors == []
    ours = [r for r in control.get("requests") if r["path"].startswith("/api/v1/customers/pace-")]
    assert [r["status"] for r in ours] == [200] * requests_sent  # none refused by the emulator's limit
    assert elapsed >= (requests_sent - 1) / rate  # four threads together never outran one bucket


def test_app_pacing_defaults_to_ten_per_second(cio_emulator: Emulator, control: Control) -> None:
    client = AppClient(EMULATOR_CREDENTIALS, base_url=cio_emulator.url)
    assert client.rate_per_s == 10
    control.faults(rate_limit_per_s=15)
    started = time.monotonic()
    for _ in range(14):
        client.send_email(EMAIL, "forgot_password", "placeholder", {"token": "t"})
    assert time.monotonic() - started >= 13 / 10
    assert len(control.get("emails")) == 14
    assert control.get("stats")["rate_limited"] == 0


def test_send_email_round_trip(cio_emulator: Emulator, control: Control) -> None:
    delivery_id = app(cio_emulator).send_email(
        EMAIL, "forgot_password", "cio-sync-transactional", {"reset_url": "https://example.test/r"}
    )
    (email,) = control.get("emails")
    assert email["delivery_id"] == delivery_id
    assert email["identifiers"] == {"id": "cio-sync-transactional"}
    assert email["message_data"] == {"reset_url": "https://example.test/r"}


def test_no_personal_data_in_errors_or_logs(
    cio_emulator: Emulator, control: Control, log_lines: LogLines
) -> None:
    personal = {"first_name": NAME, "email": EMAIL, "phone": PHONE, "bio": NAME * 100}
    client = track(cio_emulator)
    texts: list[str] = []
    result = client.send_batch([Identify("m-1", personal)])
    texts += [str(result[0]), repr(result[0])]
    with pytest.raises(InvalidRequest) as caught:
        client.identify(Identify("m-1", personal))
    texts += [str(caught.value), repr(caught.value)]
    control.faults(fail_ratio=1.0, fail_status=400)
    with pytest.raises(InvalidRequest) as email_error:
        app(cio_emulator).send_email(EMAIL, "forgot_password", "placeholder", {"name": NAME})
    texts += [str(email_error.value), log_lines.text]
    assert "Customer.io call failed" in log_lines.text
    for text in texts:
        for secret in (NAME, "Ada", EMAIL, "example.com", PHONE, "track-key", "app-key"):
            assert secret not in text
