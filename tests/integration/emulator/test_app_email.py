"""App API send email: Bearer auth, the `to` / identifiers rules, and deliveries kept for inspection."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.integration.emulator.support import Api


def email(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "to": "member@example.com",
        "transactional_message_id": "forgot_password",
        "identifiers": {"id": "placeholder"},
        "message_data": {"reset_url": "https://example.com/reset"},
    }
    body.update(overrides)
    return body


def test_send_email_queues_a_delivery_and_returns_its_id(api: Api) -> None:
    response = api.send_email(email())

    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"delivery_id", "queued_at"}
    assert isinstance(answer["queued_at"], int)
    [delivery] = api.control("emails")
    assert delivery["delivery_id"] == answer["delivery_id"]
    assert delivery["to"] == "member@example.com"
    assert delivery["message_data"] == {"reset_url": "https://example.com/reset"}


def test_each_delivery_gets_its_own_id(api: Api) -> None:
    first = api.send_email(email()).json()["delivery_id"]
    second = api.send_email(email()).json()["delivery_id"]

    assert first != second
    assert len(api.control("emails")) == 2


def test_an_unknown_identifier_id_creates_that_person(api: Api) -> None:
    api.send_email(email())

    assert api.profiles() == {"placeholder": {}}


def test_numeric_message_id_is_accepted(api: Api) -> None:
    assert api.send_email(email(transactional_message_id=12)).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic c2l0ZTp0cmFjay1rZXk="}],
    ids=["missing", "wrong-key", "track-basic"],
)
def test_send_email_rejects_missing_or_wrong_bearer(api: Api, headers: dict[str, str]) -> None:
    response = requests.post(f"{api.url}/v1/send/email", json=email(), headers=headers, timeout=5)

    assert response.status_code == 401
    assert api.control("emails") == []


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"to": None}, "to"),
        ({"to": ""}, "to"),
        ({"transactional_message_id": None}, "transactional_message_id"),
        ({"identifiers": None}, "identifiers"),
        ({"identifiers": {}}, "identifiers"),
        ({"identifiers": {"id": "a", "email": "b@example.com"}}, "identifiers"),
        ({"identifiers": {"phone": "+15555550100"}}, "identifiers"),
        ({"identifiers": {"id": "x" * 151}}, "identifier"),
        ({"message_data": "text"}, "message_data"),
    ],
    ids=[
        "no-to",
        "empty-to",
        "no-message-id",
        "no-identifiers",
        "empty-identifiers",
        "two-identifiers",
        "unsupported-identifier",
        "identifier-too-long",
        "message-data-not-object",
    ],
)
def test_send_email_rejects_what_customer_io_rejects(
    api: Api, overrides: dict[str, Any], fragment: str
) -> None:
    body = email(**overrides)
    if overrides.get("to", "x") is None:
        del body["to"]

    response = api.send_email(body)

    assert response.status_code == 400
    assert fragment in response.json()["meta"]["error"]
    assert "member@example.com" not in response.text
    assert api.control("emails") == []


def test_send_email_rejects_a_body_that_is_not_json(api: Api) -> None:
    response = api.app.post(f"{api.url}/v1/send/email", data=b"nope", timeout=5)

    assert response.status_code == 400


def test_send_email_only_accepts_post(api: Api) -> None:
    assert api.app.get(f"{api.url}/v1/send/email", timeout=5).status_code == 405
