"""Track v1: identify, delete and event over real HTTP, with Customer.io's auth, schema and limits."""

from __future__ import annotations

import pytest
import requests

from cio_sync_local.emulator import Emulator
from tests.integration.emulator.support import Api

ULID_A = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
ULID_B = "01BX5ZZKBKACTAV9WEVGEMMVRZ"


def test_identify_creates_the_person_with_their_attributes(api: Api) -> None:
    response = api.identify(
        "m-1", {"email_subscription_status": True, "first_name": "Ada", "created_at": 1700000000}
    )

    assert response.status_code == 200
    assert response.json() == {}
    assert api.profiles() == {
        "m-1": {"email_subscription_status": True, "first_name": "Ada", "created_at": 1700000000}
    }


def test_identify_merges_and_empty_string_removes_an_attribute(api: Api) -> None:
    api.identify("m-1", {"first_name": "Ada", "sms_status": "active", "source": "web"})

    response = api.identify("m-1", {"first_name": "", "sms_status": "stop"})

    assert response.status_code == 200
    assert api.profiles()["m-1"] == {"sms_status": "stop", "source": "web"}


def test_identify_with_an_empty_body_creates_a_bare_profile(api: Api) -> None:
    response = api.track.put(f"{api.url}/api/v1/customers/m-1", timeout=5)

    assert response.status_code == 200
    assert api.profiles() == {"m-1": {}}


def test_identify_control_keys_are_not_stored_as_attributes(api: Api) -> None:
    api.identify("m-1", {"id": "m-1", "_timestamp": 1700000000, "plan": "free"})

    assert api.profiles()["m-1"] == {"plan": "free"}


def test_update_only_identify_never_creates_a_person(api: Api) -> None:
    response = api.identify("m-ghost", {"_update": True, "plan": "free"})

    assert response.status_code == 200
    assert api.profiles() == {}


def test_update_only_identify_updates_an_existing_person(api: Api) -> None:
    api.identify("m-1", {"plan": "free"})

    api.identify("m-1", {"_update": True, "plan": "paid"})

    assert api.profiles()["m-1"] == {"plan": "paid"}


def test_an_older_timestamp_does_not_overwrite_a_newer_update(api: Api) -> None:
    api.identify("m-1", {"_timestamp": 200, "plan": "paid"})

    api.identify("m-1", {"_timestamp": 100, "plan": "free", "source": "sms"})

    assert api.profiles()["m-1"] == {"plan": "paid", "source": "sms"}


def test_delete_removes_the_person_and_a_missing_person_is_fine(api: Api) -> None:
    api.identify("m-1", {"plan": "free"})

    assert api.delete("m-1").status_code == 200
    assert api.delete("m-1").status_code == 200
    assert api.profiles() == {}


def test_identify_after_delete_recreates_the_person_without_old_attributes(api: Api) -> None:
    api.identify("m-1", {"plan": "free", "source": "web"})
    api.delete("m-1")

    api.identify("m-1", {"plan": "paid"})

    assert api.profiles() == {"m-1": {"plan": "paid"}}


def test_event_is_stored_for_the_person(api: Api) -> None:
    api.identify("m-1", {"plan": "free"})

    response = api.event(
        "m-1",
        {"name": "promotions_resubscribe", "id": ULID_A, "timestamp": 1700000000, "data": {"via": "web"}},
    )

    assert response.status_code == 200
    [event] = api.control("events")
    assert event["person_id"] == "m-1"
    assert event["name"] == "promotions_resubscribe"
    assert event["id"] == ULID_A
    assert event["timestamp"] == 1700000000
    assert event["data"] == {"via": "web"}


def test_a_repeated_event_id_is_ignored(api: Api) -> None:
    api.event("m-1", {"name": "promotions_resubscribe", "id": ULID_A})

    assert api.event("m-1", {"name": "promotions_resubscribe", "id": ULID_A}).status_code == 200
    api.event("m-1", {"name": "promotions_resubscribe", "id": ULID_B})

    assert [event["id"] for event in api.control("events")] == [ULID_A, ULID_B]
    assert api.control("stats")["duplicate_events_ignored"] == 1


def test_an_event_for_an_unknown_person_creates_that_person(api: Api) -> None:
    api.event("m-new", {"name": "signed_up"})

    assert api.profiles() == {"m-new": {}}


def test_event_names_are_trimmed_like_customer_io_does(api: Api) -> None:
    api.event("m-1", {"name": "  signed_up  "})

    assert api.control("events")[0]["name"] == "signed_up"


def test_person_ids_are_url_decoded_from_the_path(api: Api) -> None:
    api.identify("a%2Fb%20c", {"plan": "free"})

    assert api.profiles() == {"a/b c": {"plan": "free"}}


@pytest.mark.parametrize(
    "auth",
    [
        None,
        ("site", "wrong-key"),
        ("wrong-site", "track-key"),
    ],
    ids=["missing", "wrong-key", "wrong-site"],
)
def test_track_rejects_missing_or_wrong_basic_credentials(
    cio_emulator: Emulator, auth: tuple[str, str] | None
) -> None:
    response = requests.put(
        f"{cio_emulator.url}/api/v1/customers/m-1", json={"plan": "free"}, auth=auth, timeout=5
    )

    assert response.status_code == 401
    assert cio_emulator.state.profiles == {}


def test_track_rejects_the_app_bearer_key(api: Api) -> None:
    response = api.app.put(f"{api.url}/api/v1/customers/m-1", json={"plan": "free"}, timeout=5)

    assert response.status_code == 401


def test_track_rejects_a_malformed_basic_header(api: Api) -> None:
    response = api.plain.put(
        f"{api.url}/api/v1/customers/m-1", json={}, headers={"Authorization": "Basic not*base64"}, timeout=5
    )

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"_timestamp": None}, "_timestamp"),
        ({"score": 1.5}, "score"),
        ({"tags": ["a"]}, "tags"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"_update": "yes"}, "_update"),
    ],
    ids=["timestamp-null", "float-value", "array-value", "created-at-string", "update-not-bool"],
)
def test_identify_rejects_bodies_the_openapi_document_forbids(
    api: Api, body: dict[str, object], field: str
) -> None:
    """The v1 identify schema allows string, integer and boolean attribute values (and, as the real
    service does, null to remove one: see test_removal.py); control keys are checked as written."""
    response = api.identify("m-1", body)

    assert response.status_code == 400
    [message] = response.json()["meta"]["errors"]
    assert message.startswith(f"{field}:")
    assert api.profiles() == {}


def test_identify_rejects_a_body_that_is_not_json(api: Api) -> None:
    response = api.track.put(f"{api.url}/api/v1/customers/m-1", data=b"{not json", timeout=5)

    assert response.status_code == 400
    assert response.json() == {"meta": {"errors": ["body: request body is not valid JSON"]}}


def test_identify_rejects_a_body_that_is_not_an_object(api: Api) -> None:
    assert api.identify("m-1", ["plan"]).status_code == 400


@pytest.mark.parametrize(
    "body",
    [{"data": {"a": 1}}, {"name": 5}, {"name": "x", "timestamp": "now"}, {"name": "x", "data": "text"}],
    ids=["no-name", "name-not-string", "timestamp-not-int", "data-not-object"],
)
def test_event_rejects_bodies_the_openapi_document_forbids(api: Api, body: dict[str, object]) -> None:
    response = api.event("m-1", body)

    assert response.status_code == 400
    assert api.control("events") == []


def test_error_text_never_echoes_the_rejected_value(api: Api) -> None:
    response = api.identify("m-1", {"email": "person@example.com", "score": 1.5})

    assert response.status_code == 400
    assert "person@example.com" not in response.text
    assert "1.5" not in response.text


def test_identifier_over_150_bytes_is_rejected(api: Api) -> None:
    assert api.identify("x" * 150, {}).status_code == 200
    assert api.identify("x" * 151, {}).status_code == 400
    assert api.event("é" * 76, {"name": "e"}).status_code == 400  # 152 bytes in UTF-8
    assert api.delete("x" * 151).status_code == 400


def test_attribute_name_over_150_bytes_is_rejected(api: Api) -> None:
    assert api.identify("m-1", {"a" * 150: 1}).status_code == 200
    response = api.identify("m-2", {"a" * 151: 1})

    assert response.status_code == 400
    assert "m-2" not in api.profiles()


def test_attribute_value_over_1000_bytes_is_rejected(api: Api) -> None:
    assert api.identify("m-1", {"bio": "x" * 1000}).status_code == 200
    response = api.identify("m-1", {"bio": "x" * 1001})

    assert response.status_code == 400
    assert response.json() == {
        "meta": {"errors": ["attributes.bio: attribute value is longer than 1000 bytes"]}
    }
    assert api.profiles()["m-1"]["bio"] == "x" * 1000


def test_more_than_300_attributes_in_one_call_is_rejected(api: Api) -> None:
    assert api.identify("m-1", {f"a{i}": i for i in range(300)}).status_code == 200
    assert api.identify("m-2", {f"a{i}": i for i in range(301)}).status_code == 400


def test_a_call_that_would_give_the_person_more_than_300_attributes_is_rejected(api: Api) -> None:
    api.identify("m-1", {f"a{i}": i for i in range(300)})

    assert api.identify("m-1", {"a0": "", "b": 1}).status_code == 200
    assert api.identify("m-1", {"c": 1}).status_code == 400
    assert len(api.profiles()["m-1"]) == 300


def test_event_name_over_100_bytes_is_rejected(api: Api) -> None:
    assert api.event("m-1", {"name": "e" * 100}).status_code == 200
    assert api.event("m-1", {"name": "e" * 101}).status_code == 400


def test_event_data_over_100000_bytes_is_rejected(api: Api) -> None:
    small = {"blob": "x" * 99_980}
    large = {"blob": "x" * 100_000}

    assert api.event("m-1", {"name": "e", "data": small}).status_code == 200
    assert api.event("m-1", {"name": "e", "data": large}).status_code == 400


def test_unknown_track_routes_are_404(api: Api) -> None:
    assert api.track.get(f"{api.url}/api/v1/customers/m-1", timeout=5).status_code == 404
    assert api.track.post(f"{api.url}/api/v1/customers/m-1/other", json={}, timeout=5).status_code == 404
    assert api.track.post(f"{api.url}/api/v2/unknown", json={}, timeout=5).status_code == 404
