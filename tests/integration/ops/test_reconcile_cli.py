"""`cio-sync reconcile` against moto: every member's sync lands on the track queue, in its lane."""

from __future__ import annotations

import json

import pytest

from cio_sync.pipeline.messages import decode_intents, lane_of
from cio_sync.sync.intents import SyncProfile
from tests.integration.ops.conftest import LANES, Cli, Resources, assert_one_line_error


def add_members(resources: Resources, count: int) -> list[str]:
    return sorted(
        resources.members.create_web_signup({"email": f"member{index}@example.org"})["id"]
        for index in range(count)
    )


def queued_syncs(resources: Resources) -> list[SyncProfile]:
    syncs: list[SyncProfile] = []
    for message in resources.bodies("TrackQueue"):
        intents = decode_intents(message["Body"])
        assert {lane_of(intent.member_id, LANES) for intent in intents} == {
            message["Attributes"]["MessageGroupId"]
        }
        syncs.extend(intent for intent in intents if isinstance(intent, SyncProfile))
    return syncs


def test_every_member_is_queued_for_a_sync(resources: Resources, cli: Cli) -> None:
    ids = add_members(resources, 30)
    result = cli("reconcile", "--members-only", "--run-id", "after-outage", "--yes")
    assert result.code == 0
    summary = json.loads(result.out)
    members = summary["members"]
    assert summary == {"run_id": "after-outage", "dry_run": False, "members": members}
    assert members == {
        "scanned": 30,
        "queued": 30,
        "skipped": {"not_a_member_id": 0},
        "messages": members["messages"],
        "failed_messages": 0,
        "failed_members": 0,
    }
    assert 1 <= members["messages"] <= LANES
    assert "members: queued 30 in" in result.err
    syncs = queued_syncs(resources)
    assert sorted(sync.member_id for sync in syncs) == ids
    assert {sync.intent_id for sync in syncs} == {f"after-outage:{member_id}" for member_id in ids}


def test_running_the_same_run_again_is_deduplicated(resources: Resources, cli: Cli) -> None:
    add_members(resources, 5)
    assert cli("reconcile", "--members-only", "--run-id", "resume", "--yes").code == 0
    assert cli("reconcile", "--members-only", "--run-id", "resume", "--yes").code == 0
    assert len(queued_syncs(resources)) == 5


def test_a_dry_run_sends_nothing(resources: Resources, cli: Cli) -> None:
    add_members(resources, 3)
    result = cli("reconcile", "--members-only", "--dry-run")
    summary = json.loads(result.out)
    assert (result.code, summary["dry_run"], summary["members"]["queued"]) == (0, True, 3)
    assert "would queue 3" in result.err
    assert resources.visible("TrackQueue") == 0


def test_chosen_members_only(resources: Resources, cli: Cli) -> None:
    ids = add_members(resources, 3)
    # Chosen members: the members side only (no profile sweep), so no Customer.io settings are needed.
    result = cli("reconcile", "--member", ids[0], "--member", ids[0], "--member", ids[2], "--yes")
    assert json.loads(result.out)["members"]["queued"] == 2
    assert sorted(sync.member_id for sync in queued_syncs(resources)) == [ids[0], ids[2]]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["reconcile", "--run-id", "has space"], "run id must be"),
        (["reconcile", "--member", "someone@example.org"], "not a member id"),
        (["reconcile", "--profiles-only", "--member", "5f0c8e2a9b1d4c3e2f1a0b9c"], "cannot go with"),
        (["reconcile", "--profiles-only", "--app-rate", "10"], "below Customer.io's 10/s"),
        (["reconcile", "--profiles-only", "--max-deletes", "0"], "at least 1"),
    ],
)
def test_bad_input_is_one_line(aws: None, cli: Cli, argv: list[str], message: str) -> None:
    result = cli(*argv)
    assert_one_line_error(result, message)
    assert "example.org" not in result.err


def test_no_track_queue_is_one_line(resources: Resources, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACK_QUEUE_URL")
    assert_one_line_error(cli("reconcile", "--members-only", "--yes"), "no TrackQueue", "TRACK_QUEUE_URL")


def test_the_profile_side_names_the_setting_it_lacks(
    resources: Resources, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CUSTOMER_IO_APP_SECRET_NAME", "CUSTOMER_IO_APP_IDENTIFIER_ID", "CUSTOMER_IO_APP_URL"):
        monkeypatch.delenv(name, raising=False)
    result = cli("reconcile", "--profiles-only", "--yes")
    assert result.code == 1
    assert result.err.strip().splitlines()[-1].startswith("cio-sync: no CUSTOMER_IO_APP_SECRET_NAME")


def test_a_queue_that_does_not_exist_fails_before_the_scan(
    resources: Resources, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACK_QUEUE_URL", resources.urls["TrackQueue"].replace("ops-track", "gone"))
    result = cli("reconcile", "--members-only", "--yes")
    assert result.code == 1
    assert (
        result.err.strip().splitlines()[-1]
        == "cio-sync: a queue of the target does not exist (QueueDoesNotExist)"
    )
    assert "Traceback" not in result.err
