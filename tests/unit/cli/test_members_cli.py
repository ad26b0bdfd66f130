"""`members` commands: parsing and the contract-typed `--set` values (no AWS here)."""

from __future__ import annotations

import argparse

import pytest

from cio_sync_cli.errors import CommandError
from cio_sync_cli.members_cli import (
    add_members_commands,
    checked_id,
    parse_assignments,
    signup_fields,
    typed_value,
)

NOW = "2026-11-26T16:37:55.123456Z"
MEMBER_ID = "5f0c8e2a9b1d4c3e2f1a0b9c"


def parse(*argv: str) -> argparse.Namespace:
    root = argparse.ArgumentParser(prog="cio-sync")
    add_members_commands(root.add_subparsers(dest="command"))
    return root.parse_args(list(argv))


def test_values_are_typed_by_the_contract() -> None:
    changes = parse_assignments(
        [
            "email_subscription_status=false",
            "sms_paused=TRUE",
            "email_subscription_topics=news, clubs",
            "sms_subscription_topics=",
            "promotions_muted_at=null",
            "last_messaged_at=now",
            "first_name= Ada ",
            "addr_zip=01234",
        ],
        now=NOW,
    )
    assert changes == {
        "email_subscription_status": False,
        "sms_paused": True,
        "email_subscription_topics": ["news", "clubs"],
        "sms_subscription_topics": [],
        "promotions_muted_at": None,
        "last_messaged_at": NOW,
        "first_name": "Ada",
        "addr_zip": "01234",  # text stays text
    }


def test_now_is_only_special_for_timestamps() -> None:
    assert typed_value("first_name", "now") == "now"
    assert typed_value("created_at", "now").endswith("Z")


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("first_name", "--set number 1: expected FIELD=VALUE"),
        ("=x", "--set number 1: expected FIELD=VALUE"),
        ("favourite_colour=red", "'favourite_colour' is not an attribute of the member contract"),
        ("id=5f0c8e2a9b1d4c3e2f1a0b9c", "id cannot be set by hand"),
        ("updated_at=now", "updated_at cannot be set by hand"),
        ("sms_paused=maybe", "sms_paused must be true, false or null"),
    ],
)
def test_bad_assignments_name_the_field_never_the_value(assignment: str, message: str) -> None:
    with pytest.raises(CommandError, match=message) as error:
        parse_assignments([assignment])
    assert "maybe" not in str(error.value)
    assert "red" not in str(error.value)


def test_a_field_given_twice_is_refused() -> None:
    with pytest.raises(CommandError, match="first_name is given twice"):
        parse_assignments(["first_name=A", "first_name=B"])


def test_signup_fields_merge_options_and_assignments() -> None:
    args = parse(
        "members", "create", "--web", "--email", "a@example.org", "--set", "language=en", "--id", MEMBER_ID
    )
    assert signup_fields(args) == {"email": "a@example.org", "language": "en", "id": MEMBER_ID}
    clash = parse("members", "create", "--sms", "--mobile", "+15555550123", "--set", "mobile=+15555550124")
    with pytest.raises(CommandError, match="mobile is given both as an option and with --set"):
        signup_fields(clash)


def test_member_ids_are_checked_without_echoing_them() -> None:
    assert checked_id(MEMBER_ID) == MEMBER_ID
    with pytest.raises(CommandError, match="not a member id") as error:
        checked_id("someone@example.org")
    assert "example.org" not in str(error.value)


def test_the_commands_parse_as_documented() -> None:
    create = parse("members", "create", "--sms", "--mobile", "+15555550123", "--stack", "cio-sync-dev")
    assert (create.signup, create.mobile, create.stack) == ("sms", "+15555550123", "cio-sync-dev")
    update = parse("members", "update", MEMBER_ID, "--set", "a=b", "--set", "c=d")
    assert (update.member_id, update.assignments) == (MEMBER_ID, ["a=b", "c=d"])
    delete = parse("members", "delete", MEMBER_ID)
    assert (delete.purge, delete.request) == (False, False)  # a deletion request by default
    assert parse("members", "delete", MEMBER_ID, "--purge").purge
    for command in (
        create,
        update,
        delete,
        parse("members", "show", MEMBER_ID),
        parse("members", "mute", MEMBER_ID),
    ):
        assert callable(command.handler)


@pytest.mark.parametrize(
    "argv",
    [
        ["members", "create", "--email", "a@example.org"],  # neither --web nor --sms
        ["members", "create", "--web", "--sms"],
        ["members", "update", MEMBER_ID],  # nothing to set
        ["members", "delete", MEMBER_ID, "--request", "--purge"],
        ["members"],
    ],
)
def test_incomplete_commands_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse(*argv)
    assert exit_info.value.code == 2
