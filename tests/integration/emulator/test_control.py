"""Inspection and control endpoints, the HTML page, the rate limiter and fault injection."""

from __future__ import annotations

import http.client
import json
import time

import pytest
import requests

from cio_sync_local.emulator import Emulator
from cio_sync_local.emulator.faults import FaultConfig, FaultConfigError, TrafficControl, Verdict
from tests.integration.emulator.support import Api, person


def test_profiles_and_single_profile(api: Api) -> None:
    api.identify("m-1", {"plan": "free"})

    assert api.control("profiles") == {"m-1": {"plan": "free"}}
    single = api.control("profiles/m-1")
    assert single["id"] == "m-1"
    assert single["attributes"] == {"plan": "free"}
    assert single["created"] <= single["updated"]
    assert api.plain.get(f"{api.url}/_emulator/profiles/nobody", timeout=5).status_code == 404


def test_events_can_be_filtered_by_person(api: Api) -> None:
    api.event("m-1", {"name": "a"})
    api.event("m-2", {"name": "b"})

    assert [e["name"] for e in api.control("events")] == ["a", "b"]
    assert [e["name"] for e in api.control("events?person_id=m-2")] == ["b"]


def test_requests_log_has_method_path_status_time_and_operation_count(api: Api) -> None:
    before = time.time()
    api.identify("m-1", {"plan": "free"})
    api.batch([person("m-1", "delete"), person("m-2", "delete")])
    api.plain.put(f"{api.url}/api/v1/customers/m-1", json={}, timeout=5)

    log = api.control("requests")

    assert [(r["method"], r["path"], r["status"], r["operations"]) for r in log] == [
        ("PUT", "/api/v1/customers/m-1", 200, 1),
        ("POST", "/api/v2/batch", 200, 2),
        ("PUT", "/api/v1/customers/m-1", 401, 0),
    ]
    assert all(before <= r["time"] <= time.time() for r in log)


def test_control_requests_are_not_counted_as_api_traffic(api: Api) -> None:
    api.control("profiles")
    api.control("stats")

    stats = api.control("stats")

    assert stats["requests_total"] == 0
    assert stats["peak_requests_per_second"] == 0


def test_stats_count_statuses_operations_and_peak_per_second(api: Api) -> None:
    for i in range(5):
        api.identify(f"m-{i}", {"plan": "free"})
    api.identify("m-x", {"score": 1.5})
    api.batch([person("a", "delete"), person("b", "delete"), person("c", "delete")])

    stats = api.control("stats")

    assert stats["requests_by_status"] == {"200": 6, "400": 1}
    assert stats["requests_total"] == 7
    assert stats["operations_applied"] == 8
    assert stats["peak_requests_per_second"] == 7
    assert stats["current_window_requests"] <= 7


def test_reset_forgets_state_counters_and_faults(api: Api) -> None:
    api.identify("m-1", {"plan": "free"})
    api.send_email({"to": "a@example.com", "transactional_message_id": 1, "identifiers": {"id": "p"}})
    api.set_faults(latency_ms=5)

    assert api.plain.post(f"{api.url}/_emulator/reset", timeout=5).json() == {"reset": True}

    assert api.profiles() == {}
    assert api.control("emails") == []
    assert api.control("requests") == []
    stats = api.control("stats")
    assert stats["requests_total"] == 0
    assert stats["faults"]["latency_ms"] == 0


def test_faults_endpoint_merges_settings_and_rejects_nonsense(api: Api) -> None:
    assert api.set_faults(fail_ratio=0.25).json()["fail_ratio"] == 0.25
    assert api.set_faults(latency_ms=10).json() == {
        "rate_limit_per_s": None,
        "fail_ratio": 0.25,
        "fail_status": 503,
        "latency_ms": 10,
        "drop_ratio": 0.0,
        "seed": 0,
    }
    assert api.control("faults")["latency_ms"] == 10
    for bad in (
        {"fail_ratio": 2},
        {"drop_ratio": -0.1},
        {"fail_status": 200},
        {"latency_ms": -1},
        {"nope": 1},
    ):
        response = api.plain.post(f"{api.url}/_emulator/faults", json=bad, timeout=5)
        assert response.status_code == 400, bad
    assert api.plain.post(f"{api.url}/_emulator/faults", data=b"[1]", timeout=5).status_code == 400


def test_the_page_is_served_and_its_overview_holds_what_happened_masked(api: Api) -> None:
    api.identify("m-<1>", {"first_name": "<b>Ada</b>"})
    api.event("m-<1>", {"name": "promotions_resubscribe"})
    api.send_email({"to": "a@example.com", "transactional_message_id": "welcome", "identifiers": {"id": "p"}})
    api.delete("m-<1>")

    page = api.plain.get(f"{api.url}/", timeout=5)
    overview = api.control("overview")

    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "<h1>Customer.io emulator</h1>" in page.text
    assert "/_emulator/overview" in page.text
    kinds = [(row["type"], row["person_id"]) for row in overview["timeline"]["rows"]]
    assert kinds == [("delete", "m-<1>"), ("email", "p"), ("event", "m-<1>"), ("identify", "m-<1>")]
    assert "to a***@example.com" in overview["timeline"]["rows"][1]["summary"]
    assert [row["id"] for row in overview["people"]["rows"]] == ["p"]
    assert "a@example.com" not in json.dumps(overview)


def test_rate_limit_answers_429_past_the_limit_and_recovers_after_a_second() -> None:
    now = [500.0]  # the rate limit's window runs on this clock: no request outruns a real second
    with Emulator(clock=lambda: now[0]) as emulator:
        api = Api(emulator)
        api.set_faults(rate_limit_per_s=5)

        statuses = [api.identify(f"m-{i}", {"n": i}).status_code for i in range(8)]

        assert statuses == [200] * 5 + [429] * 3
        assert len(api.profiles()) == 5
        now[0] += 1.0
        assert api.identify("m-late", {}).status_code == 200
        stats = api.control("stats")
    assert stats["rate_limited"] == 3
    assert stats["requests_by_status"]["429"] == 3


def test_rate_limit_window_slides_rather_than_resetting_on_the_second() -> None:
    now = [100.0]
    control = TrafficControl(FaultConfig(rate_limit_per_s=2), clock=lambda: now[0])

    verdicts = []
    for at in (100.0, 100.6, 100.9, 101.05, 101.5, 101.61):
        now[0] = at
        verdicts.append(control.admit()[0])

    assert verdicts == [
        Verdict.SERVE,
        Verdict.SERVE,
        Verdict.RATE_LIMITED,  # two admitted within the last second
        Verdict.SERVE,  # 100.0 has left the window
        Verdict.RATE_LIMITED,  # 100.6 and 101.05 are still in it
        Verdict.SERVE,  # 100.6 has left
    ]
    assert control.stats()["peak_requests_per_second"] == 4


def test_fail_ratio_answers_the_configured_status_and_changes_nothing(api: Api) -> None:
    api.set_faults(fail_ratio=1.0, fail_status=502)

    response = api.identify("m-1", {"plan": "free"})

    assert response.status_code == 502
    assert api.profiles() == {}
    assert api.control("stats")["faults_failed"] == 1


def test_fail_ratio_is_deterministic_for_a_seed(api: Api) -> None:
    def run() -> list[int]:
        api.set_faults(fail_ratio=0.5, seed=7)
        return [api.identify("m-1", {}).status_code for _ in range(20)]

    first = run()
    second = run()

    assert first == second
    assert 200 in first
    assert 503 in first


def test_latency_delays_every_api_answer(api: Api) -> None:
    api.set_faults(latency_ms=150)

    started = time.monotonic()
    response = api.identify("m-1", {})

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.15


def test_drop_closes_the_connection_without_an_answer(api: Api) -> None:
    api.set_faults(drop_ratio=1.0)

    with pytest.raises(requests.ConnectionError):
        api.identify("m-1", {"plan": "free"})

    api.set_faults(drop_ratio=0.0)
    assert api.identify("m-1", {"plan": "free"}).status_code == 200
    assert api.control("stats")["faults_dropped"] == 1
    assert api.control("requests")[0]["status"] == 0


def test_faults_do_not_touch_control_endpoints(api: Api) -> None:
    api.set_faults(fail_ratio=1.0, drop_ratio=1.0, rate_limit_per_s=1)

    for _ in range(3):
        assert api.plain.get(f"{api.url}/_emulator/stats", timeout=5).status_code == 200


def test_fault_config_rejects_invalid_values_in_process() -> None:
    with pytest.raises(FaultConfigError):
        FaultConfig(fail_ratio=1.5)
    with pytest.raises(FaultConfigError):
        FaultConfig().updated({"unknown": 1})


def test_constructor_faults_apply_from_the_start_and_after_reset(cio_emulator: Emulator) -> None:
    with Emulator(faults=FaultConfig(fail_ratio=1.0, fail_status=500)) as emulator:
        url = f"{emulator.url}/api/v1/customers/m-1"
        assert requests.put(url, json={}, auth=("site", "track-key"), timeout=5).status_code == 500
        emulator.set_faults(fail_ratio=0.0)
        assert requests.put(url, json={}, auth=("site", "track-key"), timeout=5).status_code == 200
        emulator.reset()
        assert requests.put(url, json={}, auth=("site", "track-key"), timeout=5).status_code == 500
    assert cio_emulator.state.profiles == {}


def test_keep_alive_serves_several_requests_on_one_connection(cio_emulator: Emulator) -> None:
    headers = {"Authorization": "Basic c2l0ZTp0cmFjay1rZXk=", "Content-Type": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", cio_emulator.port, timeout=5)
    try:
        connection.request("PUT", "/api/v1/customers/m-1", body=b"{}", headers=headers)
        first = connection.getresponse()
        first.read()
        socket_after_first = connection.sock
        connection.request("PUT", "/api/v1/customers/m-2", body=b"{}", headers=headers)
        second = connection.getresponse()
        second.read()

        assert first.version == 11
        assert (first.status, second.status) == (200, 200)
        assert socket_after_first is not None
        assert connection.sock is socket_after_first
    finally:
        connection.close()
