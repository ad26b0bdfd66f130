"""Attribute removal as the real service does it: null or "" removes an attribute, in v1 and in v2.

v1 identify's null is a documented exception to schema validation: Customer.io's OpenAPI document lists only
string, integer and boolean attribute values, but the real service answers 200 and removes the attribute.
"""

from __future__ import annotations

from tests.integration.emulator.support import Api, person


def test_v1_null_removes_the_attribute_and_answers_200(api: Api) -> None:
    api.identify("m-1", {"first_name": "Ada", "sms_status": "active", "source": "web"})

    response = api.identify("m-1", {"first_name": None, "sms_status": "stop"})

    assert response.status_code == 200
    assert response.json() == {}
    assert api.profiles()["m-1"] == {"sms_status": "stop", "source": "web"}


def test_v1_null_removes_a_documented_property_too(api: Api) -> None:
    """`email` and `created_at` have their own types in the document; null still removes them."""
    api.identify("m-1", {"email": "ada@example.com", "created_at": 1700000000, "plan": "free"})

    assert api.identify("m-1", {"email": None, "created_at": None}).status_code == 200

    assert api.profiles()["m-1"] == {"plan": "free"}


def test_v1_empty_string_still_removes(api: Api) -> None:
    api.identify("m-1", {"first_name": "Ada", "plan": "free"})

    assert api.identify("m-1", {"first_name": ""}).status_code == 200

    assert api.profiles()["m-1"] == {"plan": "free"}


def test_v1_null_on_a_new_person_creates_them_without_that_attribute(api: Api) -> None:
    assert api.identify("m-1", {"first_name": None, "plan": "free"}).status_code == 200

    assert api.profiles() == {"m-1": {"plan": "free"}}


def test_v1_control_keys_set_to_null_are_still_refused(api: Api) -> None:
    for body in ({"_timestamp": None}, {"_update": None}, {"id": None}):
        response = api.identify("m-1", body)

        assert response.status_code == 400, body
    assert api.profiles() == {}


def test_v1_other_types_the_document_forbids_are_still_refused(api: Api) -> None:
    assert api.identify("m-1", {"score": 1.5, "plan": None}).status_code == 400
    assert api.profiles() == {}


def test_v1_null_frees_a_place_under_the_300_attribute_limit(api: Api) -> None:
    api.identify("m-1", {f"a{i}": i for i in range(300)})

    assert api.identify("m-1", {"a0": None, "b": 1}).status_code == 200
    assert len(api.profiles()["m-1"]) == 300


def test_the_request_log_shows_the_null_as_sent(api: Api) -> None:
    api.identify("m-1", {"first_name": None})

    assert api.control("requests")[0]["body"] == {"first_name": None}


def test_v2_batch_null_and_empty_string_remove(api: Api) -> None:
    """v2 needs no exception: its person attributes accept any JSON value, null included."""
    api.batch([person("m-1", "identify", attributes={"a": 1, "b": 2, "c": 3})])

    response = api.batch([person("m-1", "identify", attributes={"a": None, "b": ""})])

    assert response.status_code == 200
    assert api.profiles()["m-1"] == {"c": 3}
