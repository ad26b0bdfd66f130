"""The emulator page's data: the history that keeps deletes, and `GET /_emulator/overview` built from it."""

from __future__ import annotations

import json
import re
from typing import Any

from cio_sync_local.emulator.faults import FaultConfig
from cio_sync_local.emulator.page import iso, mask_text, overview
from cio_sync_local.emulator.server import EmulatorApp
from cio_sync_local.emulator.state import EmulatorState

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
RESET_LINK = "https://example.org/reset/token-4711"


def app() -> EmulatorApp:
    return EmulatorApp(
        site_id="site", track_api_key="track", app_api_key="app", schemas=None, faults=FaultConfig()
    )


def get(emulator: EmulatorApp, target: str) -> tuple[int, Any]:
    reply = emulator.handle("GET", target, {}, b"")
    return reply.status, reply.body


def busy_state(state: EmulatorState) -> None:
    """A person created, updated, sent an event, emailed while subscribed, unsubscribed, emailed, deleted."""
    state.identify("p-1", {"email": "ada@example.org", "first_name": "Ada", "id": "p-1"})
    state.identify("p-2", {"phone": "+15555550123", "sms_status": "active"})
    state.add_event("p-1", "promotions_resubscribe", {"topic": "news"}, event_id="e-1", timestamp=None)
    state.identify("p-1", {"unsubscribed": True, "_timestamp": 5})
    for send_to_unsubscribed in (True, False):
        state.add_delivery(
            {
                "to": "ada@example.org",
                "transactional_message_id": "forgot_password",
                "message_data": {"reset_url": RESET_LINK},
            },
            ("id", "p-1"),
            message_id=1,
            effective={"send_to_unsubscribed": send_to_unsubscribed},
        )
    state.delete("p-1")
    state.delete("nobody")


def test_a_deleted_person_leaves_a_trace_in_the_history() -> None:
    state = EmulatorState(clock=lambda: 1_000.0)
    busy_state(state)

    history = state.history_json()

    assert [(e["type"], e["person_id"]) for e in history] == [
        ("identify", "p-1"),
        ("identify", "p-2"),
        ("event", "p-1"),
        ("identify", "p-1"),
        ("email", "p-1"),
        ("email", "p-1"),
        ("email_suppressed", "p-1"),
        ("delete", "p-1"),
        ("delete", "nobody"),
    ]
    assert history[0]["created"] is True
    assert history[0]["attributes"] == ["email", "first_name"]
    assert history[3]["created"] is False
    assert history[3]["attributes"] == ["unsubscribed"]
    assert [e.get("existed") for e in history[-2:]] == [True, False]
    assert "p-1" not in state.profiles_json()
    state.reset()
    assert state.history_json() == []


def test_the_overview_timeline_is_newest_first_in_iso_times_with_personal_data_masked() -> None:
    state = EmulatorState(clock=lambda: 1_765_000_000.25)
    busy_state(state)
    profiles = [p.to_json() for p in state.profiles.values()]

    data = overview(profiles, state.history_json(), {"faults": {"rate_limit_per_s": 5}})

    rows = data["timeline"]["rows"]
    assert [row["type"] for row in rows][:3] == ["delete", "delete", "email_suppressed"]
    assert rows[0]["summary"] == "delete of nobody (no such person)"
    assert rows[1] == {
        "time": "2025-12-06T05:46:40.250Z",
        "type": "delete",
        "person_id": "p-1",
        "summary": "deleted",
        "data": None,
    }
    emails = [row for row in rows if row["type"] == "email"]
    assert [row["summary"] for row in emails] == [
        "email forgot_password to a***@example.org: suppressed (emu-delivery-00000002); "
        "body retained: yes, to unsubscribed: no",
        "email forgot_password to a***@example.org: sent (emu-delivery-00000001); "
        "body retained: yes, to unsubscribed: yes",
    ]
    assert emails[0]["data"] == {"reset_url": "https://example.org/***"}
    assert data["timeline"]["types"] == {
        "delete": 2,
        "email": 2,
        "email_suppressed": 1,
        "event": 1,
        "identify": 3,
    }
    assert data["faults"] == {"rate_limit_per_s": 5}
    text = json.dumps(data)
    for personal in ("ada@example.org", RESET_LINK, "+15555550123", "Ada"):
        assert personal not in text


def test_people_show_key_attributes_as_columns_newest_update_first() -> None:
    times = iter([10.0, 20.0, 30.0])
    state = EmulatorState(clock=lambda: next(times))
    state.identify("old", {"email": "grace@example.org", "unsubscribed": False, "country": "US"})
    state.identify("new", {"sms_status": "active", "phone": "+15555550123"})

    rows = overview([p.to_json() for p in state.profiles.values()], [], {})["people"]["rows"]

    assert [row["id"] for row in rows] == ["new", "old"]
    assert rows[1] == {
        "id": "old",
        "cio_id": "00000001",
        "created": "1970-01-01T00:00:10.000Z",
        "updated": "1970-01-01T00:00:10.000Z",
        "email": "g***@example.org",
        "email_subscription_status": None,
        "unsubscribed": False,
        "sms_status": None,
        "other_attributes": {"country": "US"},
    }
    assert rows[0]["other_attributes"] == {"phone": "+***"}


def test_filters_by_part_of_an_id_and_by_type_and_limit_what_is_sent() -> None:
    state = EmulatorState()
    busy_state(state)
    profiles = [p.to_json() for p in state.profiles.values()]

    by_person = overview(profiles, state.history_json(), {}, person="P-2")
    deletes = overview(profiles, state.history_json(), {}, kind="delete", limit=1)

    assert [row["person_id"] for row in by_person["timeline"]["rows"]] == ["p-2"]
    assert [row["id"] for row in by_person["people"]["rows"]] == ["p-2"]
    assert by_person["timeline"]["types"] == {"identify": 1}
    assert deletes["timeline"]["matching"] == 2
    assert [row["person_id"] for row in deletes["timeline"]["rows"]] == ["nobody"]


def test_the_overview_endpoint_answers_with_the_filters_and_refuses_a_bad_limit() -> None:
    emulator = app()
    busy_state(emulator.state)

    status, body = get(emulator, "/_emulator/overview?person=p-1&type=email&limit=1")
    bad_status, _ = get(emulator, "/_emulator/overview?limit=many")
    history_status, history = get(emulator, "/_emulator/history")

    assert status == 200
    assert body["timeline"]["matching"] == 2
    assert [row["type"] for row in body["timeline"]["rows"]] == ["email"]
    assert ISO.match(body["timeline"]["rows"][0]["time"])
    assert body["people"]["matching"] == 0
    assert body["counters"]["operations_applied"] == emulator.stats()["operations_applied"]
    assert bad_status == 400
    assert history_status == 200
    assert history[-1]["type"] == "delete"


def test_the_page_is_static_html_that_renders_the_overview_as_text() -> None:
    emulator = app()
    emulator.state.identify("<b>p</b>", {"first_name": "<b>Ada</b>"})

    reply = emulator.handle("GET", "/", {}, b"")

    assert reply.status == 200
    assert reply.content_type.startswith("text/html")
    assert "/_emulator/overview" in reply.body
    assert "<b>" not in reply.body
    assert "innerHTML" not in reply.body  # data only ever goes in as text nodes


def test_masking_keeps_the_shape_not_the_person() -> None:
    assert mask_text("Ada.Lovelace@Example.org") == "A***@Example.org"
    assert mask_text("https://example.org/reset/abc?x=1") == "https://example.org/***"
    assert mask_text("Lovelace") == "L***"
    assert mask_text("") == ""
    assert iso(0) == "1970-01-01T00:00:00.000Z"
    assert iso(True) is None
    assert iso("12") is None
