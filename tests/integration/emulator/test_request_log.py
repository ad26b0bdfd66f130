"""`GET /_emulator/requests`: each API request with its JSON body, bounded, and never a credential."""

from __future__ import annotations

import base64
import json

import requests

from cio_sync_local.emulator import Emulator
from tests.integration.emulator.support import Api, person


def test_each_request_keeps_its_parsed_json_body(api: Api) -> None:
    api.identify("m-1", {"plan": "free", "_timestamp": 1700000000})
    api.batch([person("m-2", "identify", attributes={"plan": "paid"}, timestamp=1700000001)])
    api.send_email(
        {
            "to": "member@example.com",
            "transactional_message_id": "forgot_password",
            "identifiers": {"id": "placeholder"},
            "message_data": {"reset_url": "https://example.com/reset?t=1"},
            "disable_message_retention": True,
            "send_to_unsubscribed": True,
        }
    )

    identify, batch, email = api.control("requests")

    assert identify["body"] == {"plan": "free", "_timestamp": 1700000000}
    assert batch["body"]["batch"][0]["timestamp"] == 1700000001
    assert email["body"]["disable_message_retention"] is True
    assert email["body"]["send_to_unsubscribed"] is True
    assert email["body"]["message_data"] == {"reset_url": "https://example.com/reset?t=1"}
    assert all(record["body_kept"] for record in (identify, batch, email))
    assert identify["body_size"] == len(json.dumps({"plan": "free", "_timestamp": 1700000000}))


def test_the_existing_fields_keep_their_meaning(api: Api) -> None:
    api.batch([person("m-1", "delete"), person("m-2", "delete")])

    [record] = api.control("requests")

    assert (record["method"], record["path"], record["status"], record["operations"]) == (
        "POST",
        "/api/v2/batch",
        200,
        2,
    )
    assert {
        "method",
        "path",
        "status",
        "time",
        "operations",
        "query",
        "body",
        "body_size",
        "body_kept",
    } == set(record)


def test_no_credential_is_ever_stored(api: Api) -> None:
    """Headers are not logged at all; secret-looking query parameters are redacted; bodies are kept."""
    basic = base64.b64encode(b"site:track-key").decode()
    api.identify("m-1", {"plan": "free"})
    api.send_email({"to": "a@example.com", "transactional_message_id": 1, "identifiers": {"id": "p"}})
    api.app_post("/v1/customers", {"filter": {"attribute": {"field": "plan", "operator": "exists"}}}, limit=5)
    requests.put(
        f"{api.url}/api/v1/customers/m-2?api_key=leaked-key&token=leaked-token&site_id=site",
        json={"plan": "paid"},
        headers={"Authorization": "Bearer leaked-bearer", "X-Api-Key": "leaked-header"},
        timeout=5,
    )

    log = api.control("requests")
    text = json.dumps(log)

    for secret in (
        basic,
        "track-key",
        "app-key",
        "Bearer",
        "leaked-key",
        "leaked-token",
        "leaked-bearer",
        "leaked-header",
        "uthorization",
    ):
        assert secret not in text, secret
    assert log[2]["query"] == {"limit": "5"}
    assert log[3]["query"] == {"api_key": "[redacted]", "token": "[redacted]", "site_id": "[redacted]"}
    assert log[3]["status"] == 401
    assert log[3]["body"] == {"plan": "paid"}


def test_a_body_that_is_not_json_is_logged_by_size_only(api: Api) -> None:
    api.track.put(f"{api.url}/api/v1/customers/m-1", data=b"{not json", timeout=5)
    api.track.delete(f"{api.url}/api/v1/customers/m-1", timeout=5)

    broken, empty = api.control("requests")

    assert (broken["status"], broken["body"], broken["body_size"]) == (400, None, 9)
    assert (empty["body"], empty["body_size"], empty["body_kept"]) == (None, 0, True)


def test_the_log_is_a_ring_buffer_that_drops_the_oldest_request() -> None:
    with Emulator(request_log_size=3) as emulator:
        api = Api(emulator)
        for i in range(5):
            api.identify(f"m-{i}", {"n": i})

        log = api.control("requests")
        counters = api.control("stats")["request_log"]
        api.close()

    assert [record["path"] for record in log] == [f"/api/v1/customers/m-{i}" for i in (2, 3, 4)]
    assert counters["kept"] == 3
    assert counters["dropped"] == 2


def test_bodies_past_the_byte_budget_are_let_go_oldest_first() -> None:
    body = {"bio": "x" * 80}
    size = len(json.dumps(body))
    with Emulator(request_log_body_bytes=2 * size) as emulator:
        api = Api(emulator)
        for i in range(4):
            api.identify(f"m-{i}", body)
        api.identify("m-big", {"bio": "y" * 900})

        log = api.control("requests")
        counters = api.control("stats")["request_log"]
        api.close()

    assert [record["body_kept"] for record in log] == [False, False, True, True, False]
    assert log[0]["body"] is None
    assert log[0]["path"] == "/api/v1/customers/m-0"
    assert log[0]["body_size"] == size
    assert log[2]["body"] == body
    assert log[4]["body"] is None  # larger than the whole budget: never kept
    assert counters["bodies_dropped"] == 3


def test_reset_empties_the_log(api: Api) -> None:
    api.identify("m-1", {"plan": "free"})

    api.plain.post(f"{api.url}/_emulator/reset", timeout=5)

    assert api.control("requests") == []
    assert api.control("stats")["request_log"]["kept"] == 0
