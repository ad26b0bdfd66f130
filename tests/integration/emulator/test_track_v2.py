"""Track v2: single entity requests and batches (200 / 207 per item / 400 for the whole request)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.emulator.support import Api, person

ULID_A = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def test_entity_identify_delete_and_event(api: Api) -> None:
    assert api.entity(person("m-1", "identify", attributes={"plan": "free"})).status_code == 200
    assert (
        api.entity(person("m-1", "event", name="joined", id=ULID_A, attributes={"via": "sms"})).status_code
        == 200
    )
    assert api.profiles() == {"m-1": {"plan": "free"}}
    assert api.control("events")[0]["data"] == {"via": "sms"}

    assert api.entity(person("m-1", "delete")).status_code == 200
    assert api.profiles() == {}


def test_v2_identify_null_and_empty_string_remove_attributes(api: Api) -> None:
    api.entity(person("m-1", "identify", attributes={"a": 1, "b": 2, "c": 3}))

    api.entity(person("m-1", "identify", attributes={"a": None, "b": "", "d": 1.5}))

    assert api.profiles()["m-1"] == {"c": 3, "d": 1.5}


def test_v2_update_only_identify_never_creates(api: Api) -> None:
    api.entity(person("m-ghost", "identify", attributes={"_update": True, "plan": "free"}))

    assert api.profiles() == {}


def test_entity_rejects_a_body_over_32_kb(api: Api) -> None:
    response = api.entity(person("m-1", "identify", attributes={f"a{i}": "x" * 900 for i in range(40)}))

    assert response.status_code == 400
    assert response.json()["errors"][0]["reason"] == "too_large"
    assert api.profiles() == {}


def test_entity_rejects_a_schema_mismatch_with_the_v2_error_shape(api: Api) -> None:
    response = api.entity(person("m-1", "event"))

    assert response.status_code == 400
    assert response.json() == {"errors": [{"reason": "invalid", "field": "name", "message": "is required"}]}


def test_entity_rejects_two_identifiers(api: Api) -> None:
    body = {"type": "person", "identifiers": {"id": "m-1", "email": "x@example.com"}, "action": "identify"}

    response = api.entity(body)

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "identifiers"
    assert "x@example.com" not in response.text


def test_batch_applies_every_item_and_answers_200(api: Api) -> None:
    response = api.batch(
        [
            person("m-1", "identify", attributes={"plan": "free"}),
            person("m-2", "identify", attributes={"plan": "paid"}),
            person("m-2", "event", name="upgraded", id=ULID_A),
            person("m-3", "delete"),
        ]
    )

    assert response.status_code == 200
    assert response.json() == {}
    assert api.profiles() == {"m-1": {"plan": "free"}, "m-2": {"plan": "paid"}}
    assert api.control("stats")["operations_applied"] == 4
    assert api.control("requests")[-1]["operations"] == 4


def test_batch_answers_207_naming_only_the_failed_items(api: Api) -> None:
    response = api.batch(
        [
            person("m-0", "identify", attributes={"plan": "free"}),
            person("m-1", "event"),  # no name
            person("m-2", "identify", attributes={"bio": "x" * 1001}),
            person("m-3", "identify", attributes={"plan": "paid"}),
            person("x" * 151, "delete"),
            {"type": "person", "identifiers": {"id": "m-5", "email": "e@example.com"}, "action": "identify"},
        ]
    )

    assert response.status_code == 207
    errors = response.json()["errors"]
    assert [error["batch_index"] for error in errors] == [1, 2, 4, 5]
    assert errors[0] == {"batch_index": 1, "reason": "invalid", "field": "name", "message": "is required"}
    assert errors[1] == {
        "batch_index": 2,
        "reason": "too_long",
        "field": "attributes.bio",
        "message": "attribute value is longer than 1000 bytes",
    }
    assert errors[2]["field"] == "identifiers"
    assert set(api.profiles()) == {"m-0", "m-3"}


def test_batch_rejects_an_item_over_32_kb_alone(api: Api) -> None:
    big = person("m-1", "identify", attributes={f"a{i}": "x" * 900 for i in range(40)})

    response = api.batch([person("m-0", "identify", attributes={"plan": "free"}), big])

    assert response.status_code == 207
    assert response.json()["errors"] == [
        {
            "batch_index": 1,
            "reason": "too_large",
            "field": "item",
            "message": "item is larger than 32768 bytes",
        }
    ]
    assert set(api.profiles()) == {"m-0"}


def test_batch_item_of_exactly_32_kb_is_accepted(api: Api) -> None:
    item = person("m-1", "identify", attributes={"pad": ""})
    base = len(json.dumps(item, separators=(",", ":")))
    fill = 32 * 1024 - base
    item["attributes"] = {f"p{i}": "x" * 900 for i in range(fill // 910)}
    remaining = 32 * 1024 - len(json.dumps(item, separators=(",", ":")))
    item["attributes"]["z"] = "y" * (remaining - len(',"z":""'))
    assert len(json.dumps(item, separators=(",", ":"))) == 32 * 1024

    assert api.batch([item]).status_code == 200


def test_batch_of_500_kb_or_more_is_rejected_whole(api: Api) -> None:
    items = [person(f"m-{i}", "identify", attributes={"bio": "x" * 990}) for i in range(500)]
    body = json.dumps({"batch": items}).encode()
    assert len(body) >= 500 * 1024

    response = api.track.post(f"{api.url}/api/v2/batch", data=body, timeout=5)

    assert response.status_code == 400
    assert response.json()["errors"][0]["reason"] == "too_large"
    assert api.profiles() == {}


def test_batch_just_under_500_kb_is_accepted(api: Api) -> None:
    items = [person(f"m-{i}", "identify", attributes={"bio": "x" * 990}) for i in range(400)]
    body = json.dumps({"batch": items}).encode()
    assert len(body) < 500 * 1024

    response = api.track.post(f"{api.url}/api/v2/batch", data=body, timeout=5)

    assert response.status_code == 200
    assert len(api.profiles()) == 400


@pytest.mark.parametrize(
    "body",
    [b"{nope", b"[]", b'{"items": []}', b'{"batch": {"a": 1}}', b""],
    ids=["not-json", "array", "no-batch", "batch-not-array", "empty"],
)
def test_batch_rejects_a_malformed_request_whole(api: Api, body: bytes) -> None:
    response = api.track.post(f"{api.url}/api/v2/batch", data=body, timeout=5)

    assert response.status_code == 400
    assert set(response.json()["errors"][0]) == {"reason", "field", "message"}


def test_batch_requires_track_credentials(api: Api) -> None:
    response = api.plain.post(f"{api.url}/api/v2/batch", json={"batch": []}, timeout=5)

    assert response.status_code == 401


def test_batch_ignores_a_repeated_event_id(api: Api) -> None:
    event = person("m-1", "event", name="joined", id=ULID_A)

    assert api.batch([event, event]).status_code == 200
    assert len(api.control("events")) == 1


def test_valid_operations_the_emulator_does_not_model_are_accepted(api: Api) -> None:
    items: list[dict[str, Any]] = [
        {"type": "object", "identifiers": {"object_type_id": "1", "object_id": "acme"}, "action": "identify"},
        person("m-1", "suppress"),
    ]

    response = api.batch(items)

    assert response.status_code == 200
    assert api.control("stats")["operations_unmodelled"] == 2
    assert api.profiles() == {}
