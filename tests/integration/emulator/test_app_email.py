"""App API send email: Bearer auth, the `to` / identifiers rules, and deliveries kept for inspection."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from cio_sync_local.emulator import Emulator
from cio_sync_local.emulator.app_api import TransactionalMessage
from tests.integration.emulator.support import Api, person


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


def test_both_privacy_flags_are_recorded_per_delivery(api: Api) -> None:
    api.send_email(email(disable_message_retention=True, send_to_unsubscribed=True))
    api.send_email(email())

    private, plain = api.control("emails")

    assert private["disable_message_retention"] is True
    assert private["send_to_unsubscribed"] is True
    assert private["effective"]["disable_message_retention"] is True
    assert private["effective"]["send_to_unsubscribed"] is True
    assert "disable_message_retention" not in plain
    assert plain["effective"]["disable_message_retention"] is False  # the message's setting
    assert plain["effective"]["send_to_unsubscribed"] is True  # the message's setting
    assert (private["status"], plain["status"]) == ("sent", "sent")


def test_the_other_documented_options_are_recorded(api: Api) -> None:
    options = {
        "subject": "Reset",
        "from": "Support <support@example.com>",
        "reply_to": "help@example.com",
        "bcc": "audit@example.com",
        "preheader": "Your link",
        "plaintext_body": "Reset here",
        "send_at": 1700000000,
        "tracked": False,
        "queue_draft": False,
        "disable_css_preprocessing": True,
        "language": "en",
        "headers": {"X-Campaign": "reset"},
        "attachments": {"note.txt": "aGVsbG8="},
    }

    assert api.send_email(email(**options)).status_code == 200

    [delivery] = api.control("emails")
    assert {key: delivery[key] for key in options} == options
    assert delivery["effective"]["tracked"] is False
    assert delivery["effective"]["disable_css_preprocessing"] is True


@pytest.mark.parametrize(
    "overrides",
    [
        {"disable_message_retention": "yes"},
        {"send_to_unsubscribed": 1},
        {"send_at": "tomorrow"},
        {"tracked": "false"},
        {"reply_to": 5},
    ],
    ids=["retention-string", "unsubscribed-number", "send-at-string", "tracked-string", "reply-to-number"],
)
def test_documented_options_of_the_wrong_type_are_refused(api: Api, overrides: dict[str, Any]) -> None:
    response = api.send_email(email(**overrides))

    assert response.status_code == 400
    assert next(iter(overrides)) in response.json()["meta"]["error"]
    assert api.control("emails") == []


def test_an_unsubscribed_person_gets_nothing_unless_send_to_unsubscribed(api: Api) -> None:
    """Customer.io: "If false, your message is not sent to unsubscribed recipients." The send is still
    queued (200 with a delivery id); the delivery is suppressed."""
    api.identify("placeholder", {"unsubscribed": True})

    refused = api.send_email(email(send_to_unsubscribed=False))
    allowed = api.send_email(email(send_to_unsubscribed=True))

    assert (refused.status_code, allowed.status_code) == (200, 200)
    assert refused.json()["delivery_id"]
    suppressed, sent = api.control("emails")
    assert (suppressed["status"], suppressed["suppressed_reason"]) == ("suppressed", "unsubscribed")
    assert (sent["status"], sent["suppressed_reason"]) == ("sent", None)
    [activity] = api.control("activity?person_id=placeholder")
    assert activity["type"] == "email_suppressed"
    assert activity["delivery_id"] == suppressed["delivery_id"]


@pytest.mark.parametrize("value", [True, "TRUE", "1", 1])
def test_unsubscribed_is_read_as_customer_io_reads_it(api: Api, value: object) -> None:
    """v2, whose attributes take any value (v1's schema types `unsubscribed` as a boolean)."""
    assert (
        api.entity(person("placeholder", "identify", attributes={"unsubscribed": value})).status_code == 200
    )

    api.send_email(email(send_to_unsubscribed=False))

    assert api.control("emails")[0]["status"] == "suppressed"


def test_a_subscribed_person_gets_the_message_either_way(api: Api) -> None:
    api.identify("placeholder", {"unsubscribed": False})

    api.send_email(email(send_to_unsubscribed=False))

    assert api.control("emails")[0]["status"] == "sent"


def test_without_the_option_the_message_setting_decides() -> None:
    strict = TransactionalMessage(7, "Reset", "reset", send_to_unsubscribed=False, hide_message_body=True)
    with Emulator(transactional_messages=[strict]) as emulator:
        api = Api(emulator)
        api.identify("placeholder", {"unsubscribed": True})

        api.send_email(email(transactional_message_id="RESET"))
        api.send_email(email(transactional_message_id=7, send_to_unsubscribed=True))
        first, second = api.control("emails")
        api.close()

    assert first["message"] == 7
    assert first["effective"] == {
        "disable_message_retention": True,
        "send_to_unsubscribed": False,
        "tracked": True,
        "queue_draft": False,
        "disable_css_preprocessing": False,
    }
    assert first["status"] == "suppressed"
    assert second["status"] == "sent"


def test_queue_draft_holds_the_message(api: Api) -> None:
    api.send_email(email(queue_draft=True))

    assert api.control("emails")[0]["status"] == "draft"


def test_a_message_id_resolves_by_number_or_trigger_name(api: Api) -> None:
    for message_id in (1, "forgot_password", "Forgot_Password", "password_updated", "unknown", 99):
        api.send_email(email(transactional_message_id=message_id))

    assert [delivery["message"] for delivery in api.control("emails")] == [1, 1, 1, 2, None, None]


def test_a_cio_id_identifier_never_creates_a_person(api: Api) -> None:
    api.send_email(email(identifiers={"cio_id": "ffffffff"}))

    assert api.profiles() == {}
    assert api.control("emails")[0]["person_id"] is None


def test_the_page_shows_both_flags_and_the_outcome(api: Api) -> None:
    api.identify("placeholder", {"unsubscribed": True})
    api.send_email(email(disable_message_retention=True, send_to_unsubscribed=False))

    rows = api.control("overview")["timeline"]["rows"]

    assert [row["type"] for row in rows[:2]] == ["email_suppressed", "email"]
    assert rows[1]["summary"].endswith(
        ": suppressed (emu-delivery-00000001); body retained: no, to unsubscribed: no"
    )
