"""`cio-sync members ...` against moto DynamoDB, driven through the real entry point."""

from __future__ import annotations

import json

import pytest

from tests.integration.ops.conftest import Cli, Resources, assert_one_line_error

MISSING = "5f0c8e2a9b1d4c3e2f1a0b9c"


def test_a_member_is_created_shown_changed_muted_and_deleted(resources: Resources, cli: Cli) -> None:
    created = cli("members", "create", "--web", "--email", "Ada@Example.org", "--first-name", "Ada")
    assert created.code == 0
    member_id = created.out.strip()
    assert f"created member {member_id} in environment" in created.err  # each write names its target

    shown = json.loads(cli("members", "show", member_id).out)
    assert shown["email"] == "ada@example.org"
    assert shown["email_subscription_topics"] == ["community"]
    assert (shown["email_subscription_status"], shown["promotions_muted_at"]) == (True, None)

    updated = cli("members", "update", member_id, "--set", "email_subscription_topics=news,community")
    assert json.loads(updated.out)["email_subscription_topics"] == ["news", "community"]
    assert f"updated member {member_id} in environment" in updated.err

    muting = cli("members", "mute", member_id, "--yes")
    assert json.loads(muting.out)["promotions_muted_at"] is not None
    assert f"muted member {member_id} in environment" in muting.err

    unmuted = cli(
        "members", "update", member_id, "--set", "sms_status=active", "--set", "mobile=+15555550123"
    )
    assert json.loads(unmuted.out)["promotions_muted_at"] is None  # resubscribing unmutes (the rules ran)

    requesting = cli("members", "delete", member_id, "--yes")
    assert f"requested deletion of member {member_id} in environment" in requesting.err
    requested = json.loads(requesting.out)
    assert requested["deletion_requested_at"] is not None
    assert (requested["email_subscription_status"], requested["sms_status"]) == (False, "stop")
    assert requested["promotions_muted_at"] is not None
    assert resources.members.get(member_id) is not None  # a request keeps the item

    purged = cli("members", "delete", member_id, "--purge", "--yes")
    assert (purged.code, purged.out) == (0, "")
    assert "removed" in purged.err
    assert resources.members.get(member_id) is None


def test_an_sms_signup_gets_the_default_topics(resources: Resources, cli: Cli) -> None:
    created = cli("members", "create", "--sms", "--mobile", "+15555550123", "--id", MISSING)
    assert created.out.strip() == MISSING
    item = resources.members.get(MISSING)
    assert item is not None
    assert (item["sms_status"], item["sms_subscription_topics"]) == ("active", ["general", "voting"])


@pytest.mark.parametrize(
    "argv",
    [
        ["members", "show", MISSING],
        ["members", "update", MISSING, "--set", "first_name=Ada"],
        ["members", "mute", MISSING, "--yes"],
        ["members", "delete", MISSING, "--yes"],
        ["members", "delete", MISSING, "--purge", "--yes"],
    ],
)
def test_a_missing_member_is_one_line(resources: Resources, cli: Cli, argv: list[str]) -> None:
    assert_one_line_error(cli(*argv), f"member {MISSING} not found")


@pytest.mark.parametrize("command", ["show", "mute", "delete"])
def test_a_bad_id_is_one_line_that_does_not_echo_it(aws: None, cli: Cli, command: str) -> None:
    result = cli("members", command, "ada@example.org")
    assert_one_line_error(result, "not a member id")
    assert "example.org" not in result.err


def test_contract_violations_name_the_field_never_the_value(resources: Resources, cli: Cli) -> None:
    member_id = cli("members", "create", "--web", "--email", "ada@example.org").out.strip()
    result = cli("members", "update", member_id, "--set", "mobile=555-0123")
    assert_one_line_error(result, "member field 'mobile'", "E.164")
    assert "555-0123" not in result.err
    web_without_email = cli("members", "create", "--web", "--first-name", "Ada")
    assert_one_line_error(web_without_email, "member field 'email': is required for a web sign-up")
    twice = cli("members", "create", "--web", "--email", "bob@example.org", "--id", member_id)
    assert_one_line_error(twice, f"member {member_id} already exists")


def test_no_target_is_one_line(aws: None, cli: Cli) -> None:
    assert_one_line_error(cli("members", "show", MISSING), "no member table", "--stack", "make run")


def test_a_missing_table_is_one_line(resources: Resources, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMBER_TABLE_NAME", "no-such-table")
    assert_one_line_error(cli("members", "show", MISSING), "does not exist (ResourceNotFoundException)")


def test_a_missing_stack_is_one_line(aws: None, cli: Cli) -> None:
    assert_one_line_error(
        cli("members", "show", MISSING, "--stack", "cio-sync-nope"),
        "CloudFormation stack cio-sync-nope does not exist",
    )
