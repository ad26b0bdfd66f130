"""Consent inside the emulated Customer.io: an unsubscribe click and the preference page set the person's
attributes and send signed reporting webhooks, one at a time per webhook, held back behind a failure and
retried as Customer.io does (the waits scaled down, and recorded unscaled); suppression; the App API's
reporting webhooks. Each test runs its own emulator, so no webhook outlives it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from cio_sync.customerio.reporting import WEBHOOK_EVENTS, parse_event, verify_signature
from cio_sync_local.emulator import Emulator
from tests.integration.emulator.support import Api

pytestmark = pytest.mark.integration

KEY = "emulator-test-signing-key"
BOUND_S = 30.0


@dataclass
class Endpoint:
    """A webhook endpoint on port 0 answering `statuses` in turn (then 200); `held` calls are not answered
    until `release` is set."""

    statuses: list[int] = field(default_factory=list)
    held: int = 0
    fail_customer: str | None = None  # this person's events are always answered 500
    calls: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            self.calls.append((headers, body))
            hold = self.held > 0
            self.held -= hold
            status = self.statuses.pop(0) if self.statuses and not hold else 200
        if hold:
            self.release.wait(BOUND_S)
        if json.loads(body)["data"]["customer_id"] == self.fail_customer:
            return 500
        return status

    def event_ids(self) -> list[str]:
        with self.lock:
            return [json.loads(body)["event_id"] for _, body in self.calls]


@pytest.fixture
def endpoint() -> Iterator[tuple[Endpoint, str]]:
    script = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = script.answer({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Silent."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield script, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        script.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _emulator(**options: Any) -> Emulator:
    settings: dict[str, Any] = {"validate": False, "webhook_signing_key": KEY, "webhook_time_scale": 1e-5}
    return Emulator(**{**settings, **options}).start()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    running = _emulator()
    yield running
    running.stop()


def _hook(api: Api, url: str, **fields: Any) -> dict[str, Any]:
    body = {"name": "consent", "endpoint": url, "events": list(WEBHOOK_EVENTS), **fields}
    answer = api.app_post("/v1/reporting_webhooks", body)
    assert answer.status_code == 200, answer.text
    created: dict[str, Any] = answer.json()
    return created


def _person(api: Api, person_id: str) -> None:
    assert api.identify(person_id, {"email": f"{person_id}@example.org"}).status_code == 200


def _hooked(emulator: Emulator, url: str, *people: str) -> Api:
    """An App API on the emulator, one webhook calling `url`, and `people` in the workspace."""
    api = Api(emulator)
    _hook(api, url)
    for person_id in people:
        _person(api, person_id)
    return api


def _unsubscribe(api: Api, person_id: str) -> requests.Response:
    return api.plain.post(f"{api.url}/_emulator/unsubscribe", json={"person_id": person_id}, timeout=5)


def _sent(emulator: Emulator) -> None:
    assert emulator.webhooks.wait_sent(BOUND_S), emulator.webhooks.status_json()


def _attempts(emulator: Emulator) -> list[tuple[int, float]]:
    [hook] = emulator.webhooks.status_json()
    return [(attempt["status"], attempt["wait_s"]) for attempt in hook["attempts"]]


def test_an_unsubscribe_click_sends_a_signed_webhook_the_receiver_accepts(
    emulator: Emulator, endpoint: tuple[Endpoint, str]
) -> None:
    script, url = endpoint
    api = _hooked(emulator, url, "m-1")

    answer = _unsubscribe(api, "m-1")
    _sent(emulator)

    assert answer.json() == {"unsubscribed": True, "webhooks_queued": 1}
    [(headers, body)] = script.calls
    verify_signature(body, headers["x-cio-timestamp"], headers["x-cio-signature"], KEY.encode(), time.time())
    event = parse_event(body, int(time.time()))
    assert (event.object_type, event.metric, event.customer_id) == ("customer", "unsubscribed", "m-1")
    assert api.profiles()["m-1"]["unsubscribed"] is True


def test_an_identify_stamped_before_the_click_does_not_resubscribe(emulator: Emulator) -> None:
    api = Api(emulator)
    _person(api, "m-1")
    _unsubscribe(api, "m-1")

    api.identify("m-1", {"unsubscribed": False, "_timestamp": int(time.time()) - 60})
    assert api.profiles()["m-1"]["unsubscribed"] is True
    api.identify("m-1", {"unsubscribed": False, "_timestamp": int(time.time()) + 60})
    assert api.profiles()["m-1"]["unsubscribed"] is False


def test_a_failing_call_holds_back_later_ones_and_waits_an_hour_after_a_5xx(
    emulator: Emulator, endpoint: tuple[Endpoint, str]
) -> None:
    script, url = endpoint
    script.statuses = [500, 404]
    api = _hooked(emulator, url)
    for person_id in ("m-1", "m-2"):
        _person(api, person_id)
        _unsubscribe(api, person_id)
    _sent(emulator)

    first, second = dict.fromkeys(script.event_ids())
    assert script.event_ids() == [first, first, first, second]
    assert _attempts(emulator) == [(500, 3600.0), (404, 3600.0), (200, 0.0), (200, 0.0)]


def test_a_timed_out_call_is_retried_with_a_doubling_backoff(endpoint: tuple[Endpoint, str]) -> None:
    script, url = endpoint
    script.held = 2
    emulator = _emulator(webhook_timeout_s=0.5)
    try:
        api = _hooked(emulator, url, "m-1")
        _unsubscribe(api, "m-1")
        _sent(emulator)
        assert _attempts(emulator) == [(0, 10.0), (0, 20.0), (200, 0.0)]
        assert len(set(script.event_ids())) == 1
    finally:
        emulator.stop()


def test_a_call_still_failing_after_seven_days_is_dropped_and_the_next_goes_through(
    endpoint: tuple[Endpoint, str],
) -> None:
    script, url = endpoint
    script.fail_customer = "m-1"
    emulator = _emulator(webhook_time_scale=1e-7)  # seven days: 60 ms; an hour: 0.4 ms
    try:
        api = _hooked(emulator, url, "m-1", "m-2")
        _unsubscribe(api, "m-1")
        _unsubscribe(api, "m-2")
        _sent(emulator)
        [hook] = emulator.webhooks.status_json()
        assert (hook["expired"], hook["delivered"], hook["pending"]) == (1, 1, 0)
        statuses = [status for status, _ in _attempts(emulator)]
        assert statuses[-1] == 200
        assert set(statuses[:-1]) == {500}
    finally:
        emulator.stop()


def test_a_save_on_the_preference_page_sends_the_subscription_centre_topics(
    emulator: Emulator, endpoint: tuple[Endpoint, str]
) -> None:
    script, url = endpoint
    api = _hooked(emulator, url, "m-1")

    answer = api.plain.post(
        f"{api.url}/_emulator/preferences",
        json={"person_id": "m-1", "topics": {"topic_1": True, "topic_2": False}},
        timeout=5,
    )
    _sent(emulator)

    assert answer.status_code == 200, answer.text
    event = parse_event(script.calls[0][1], int(time.time()))
    assert event.metric == "cio_subscription_preferences_changed"
    assert event.topics == {"topic_1": True, "topic_2": False}
    preferences = api.profiles()["m-1"]["cio_subscription_preferences"]
    assert preferences == {"topics": {"topic_1": True, "topic_2": False}}


def test_only_enabled_webhooks_sending_the_event_get_it(emulator: Emulator) -> None:
    api = Api(emulator)
    _hook(api, "http://127.0.0.1:9/off", disabled=True)
    _hook(api, "http://127.0.0.1:9/other", events=["email_opened"])
    _person(api, "m-1")

    assert _unsubscribe(api, "m-1").json()["webhooks_queued"] == 0


def test_the_app_api_lists_and_creates_reporting_webhooks(emulator: Emulator) -> None:
    api = Api(emulator)
    created = _hook(api, "https://example.org/hook")

    listed = api.app_get("/v1/reporting_webhooks").json()["reporting_webhooks"]
    assert listed == [created]
    assert created["endpoint"] == "https://example.org/hook"
    assert created["events"] == list(WEBHOOK_EVENTS)
    assert created["disabled"] is False
    assert api.app_post("/v1/reporting_webhooks", {"name": "x", "endpoint": "ftp://x"}).status_code == 400
    assert requests.get(f"{api.url}/v1/reporting_webhooks", timeout=5).status_code == 401


def test_unsubscribing_nobody_is_a_404_and_sends_nothing(emulator: Emulator) -> None:
    api = Api(emulator)
    assert _unsubscribe(api, "nobody").status_code == 404
    assert api.plain.post(f"{api.url}/_emulator/unsubscribe", json={}, timeout=5).status_code == 400


def test_the_page_button_posts_the_unsubscribe_the_emulator_serves(emulator: Emulator) -> None:
    """The page is static: its button posts `{"person_id": ...}` to /_emulator/unsubscribe (page.html), and
    the people list it draws from offers the button for a subscribed person."""
    api = Api(emulator)
    _person(api, "m 1")
    page = api.plain.get(f"{api.url}/", timeout=5).text
    assert 'post("/_emulator/unsubscribe", {person_id: target.dataset.unsubscribe}' in page

    answer = api.plain.post(f"{api.url}/_emulator/unsubscribe", json={"person_id": "m 1"}, timeout=5)
    assert answer.status_code == 200
    assert api.profiles()["m 1"]["unsubscribed"] is True


def test_a_suppressed_person_is_deleted_and_not_recreated_until_unsuppressed(api: Api) -> None:
    _person(api, "m-1")
    suppress = api.track.post(f"{api.url}/api/v1/customers/m-1/suppress", timeout=5)
    assert suppress.status_code == 200
    assert "m-1" not in api.profiles()

    assert api.identify("m-1", {"plan": "free"}).status_code == 200
    assert api.event("m-1", {"name": "signed_in"}).status_code == 200
    assert "m-1" not in api.profiles()

    assert api.track.post(f"{api.url}/api/v1/customers/m-1/unsuppress", timeout=5).status_code == 200
    assert "m-1" not in api.profiles()  # unsuppressing re-creates nobody
    api.identify("m-1", {"plan": "free"})
    assert api.profiles()["m-1"] == {"plan": "free"}


def test_an_unsubscribe_with_webhooks_false_changes_the_profile_and_sends_nothing(
    emulator: Emulator, endpoint: tuple[Endpoint, str]
) -> None:
    """A webhook lost past Customer.io's retries, as tests model it: the sweep's opt-out walk covers it."""
    script, url = endpoint
    api = _hooked(emulator, url, "m-1", "m-2")
    body = {"person_id": "m-1", "webhooks": False}

    answer = api.plain.post(f"{api.url}/_emulator/unsubscribe", json=body, timeout=5)
    _unsubscribe(api, "m-2")  # one sent after it: once it arrives, nothing of m-1's is still on its way
    _sent(emulator)

    assert answer.json() == {"unsubscribed": True, "webhooks_queued": 0}
    assert api.profiles()["m-1"]["unsubscribed"] is True
    assert [json.loads(body)["data"]["customer_id"] for _, body in script.calls] == ["m-2"]
    wrong = api.plain.post(f"{api.url}/_emulator/unsubscribe", json={**body, "webhooks": "no"}, timeout=5)
    assert wrong.status_code == 400
