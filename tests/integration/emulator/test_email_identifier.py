"""Identifier mode: workspaces where email is also a unique identifier.

Customer.io's Track document (identify): "If the identifier in the path and request body belong to different
people, your request may return 200 OK but produce an Attribute Update Failure"; "If the identifier in the
path does not belong to a person but you use an identifier in your request body that does belong to a
person, your request updates the person and assigns them the identifier in the path"; and email is
case-insensitive. The default mode (ids only) has none of this.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cio_sync_local.emulator import Emulator
from tests.integration.emulator.support import Api, person


@pytest.fixture(scope="module")
def unique_workspace() -> Iterator[Emulator]:
    with Emulator(email_identifier="unique") as emulator:
        yield emulator


@pytest.fixture
def unique(unique_workspace: Emulator) -> Iterator[Api]:
    unique_workspace.reset()
    caller = Api(unique_workspace)
    yield caller
    caller.close()


def test_an_email_that_belongs_to_another_person_is_an_attribute_update_failure(unique: Api) -> None:
    unique.identify("m-1", {"email": "ada@example.com", "plan": "free"})
    unique.identify("m-2", {"email": "grace@example.com", "plan": "free"})

    response = unique.identify("m-2", {"email": "ADA@example.com", "plan": "paid"})

    assert response.status_code == 200
    assert unique.profiles() == {
        "m-1": {"email": "ada@example.com", "plan": "free"},
        "m-2": {"email": "grace@example.com", "plan": "free"},
    }
    [failure] = unique.control("activity?person_id=m-2")
    assert failure["type"] == "attribute_update_failure"
    assert failure["identifier"] == "email"
    assert failure["conflicting_person_id"] == "m-1"
    assert "ada@example.com" not in str(failure).lower()
    assert unique.control("stats")["attribute_update_failures"] == 1


def test_the_same_rule_holds_for_v2_identify(unique: Api) -> None:
    unique.identify("m-1", {"email": "ada@example.com"})
    unique.identify("m-2", {"plan": "free"})

    response = unique.batch([person("m-2", "identify", attributes={"email": "ada@example.com", "plan": "x"})])

    assert response.status_code == 200
    assert unique.profiles()["m-2"] == {"plan": "free"}
    assert [a["type"] for a in unique.control("activity")] == ["attribute_update_failure"]


def test_a_new_id_with_a_known_email_takes_over_that_person(unique: Api) -> None:
    unique.identify("m-1", {"email": "ada@example.com", "plan": "free"})
    cio_id = unique.control("profiles/m-1")["cio_id"]

    assert unique.identify("m-9", {"email": "ada@example.com", "source": "sms"}).status_code == 200

    assert unique.profiles() == {"m-9": {"email": "ada@example.com", "plan": "free", "source": "sms"}}
    assert unique.control("profiles/m-9")["cio_id"] == cio_id
    [entry] = unique.control("activity")
    assert (entry["type"], entry["person_id"], entry["previous_id"]) == (
        "identifier_reassigned",
        "m-9",
        "m-1",
    )


def test_a_person_may_keep_or_change_their_own_email(unique: Api) -> None:
    unique.identify("m-1", {"email": "ada@example.com"})

    unique.identify("m-1", {"email": "ADA@example.com", "plan": "free"})
    unique.identify("m-1", {"email": "ada.lovelace@example.com"})

    assert unique.profiles() == {"m-1": {"email": "ada.lovelace@example.com", "plan": "free"}}
    assert unique.control("activity") == []


def test_an_email_freed_by_a_delete_can_be_taken(unique: Api) -> None:
    unique.identify("m-1", {"email": "ada@example.com"})
    unique.identify("m-2", {})
    unique.delete("m-1")

    unique.identify("m-2", {"email": "ada@example.com"})

    assert unique.profiles() == {"m-2": {"email": "ada@example.com"}}


def test_send_email_by_email_finds_the_person_who_has_it(unique: Api) -> None:
    unique.identify("m-1", {"email": "ada@example.com", "unsubscribed": True})

    unique.send_email(
        {
            "to": "ada@example.com",
            "transactional_message_id": 1,
            "identifiers": {"email": "Ada@Example.com"},
            "send_to_unsubscribed": False,
        }
    )

    [delivery] = unique.control("emails")
    assert (delivery["person_id"], delivery["status"]) == ("m-1", "suppressed")
    assert set(unique.profiles()) == {"m-1"}


def test_update_only_for_a_missing_person_is_a_failed_attribute_change(api: Api) -> None:
    """Any mode: `_update: true` never creates a person, and the Track document says the activity log
    shows a Failed Attribute Change."""
    api.identify("m-ghost", {"_update": True, "plan": "free"})

    [entry] = api.control("activity?person_id=m-ghost")
    assert entry["type"] == "failed_attribute_change"


def test_by_default_ids_alone_identify_people(api: Api) -> None:
    api.identify("m-1", {"email": "ada@example.com"})

    assert api.identify("m-2", {"email": "ada@example.com"}).status_code == 200

    assert set(api.profiles()) == {"m-1", "m-2"}
    assert api.control("activity") == []
    assert api.control("config")["email_identifier"] == "off"


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="email_identifier"):
        Emulator(email_identifier="sometimes")  # type: ignore[arg-type]
