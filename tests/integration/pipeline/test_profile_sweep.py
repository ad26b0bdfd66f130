"""`cio-sync reconcile` from both sides on the local stack: after it, a profile exists exactly for the
eligible members, and profiles cio-sync did not make (another source's, the placeholder) are untouched.

Profiles the stream can no longer fix (a REMOVE lost past its retention, an older release's bug, a profile
made by hand) are seeded straight into the emulator's state, as if they had been there all along.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cio_sync.adapters.customerio.credentials import Credentials
from cio_sync.adapters.customerio.people_client import PeopleClient
from cio_sync.adapters.member_table import BatchReadMembers
from cio_sync.adapters.sqs import SqsQueues
from cio_sync.members.contract import MemberItem, new_member_id
from cio_sync.members.profile import MANAGED_ATTRIBUTE, profile_attributes
from cio_sync.pipeline.profile_sweep import SweepOptions, sweep_profiles
from cio_sync_cli.main import main
from cio_sync_local.bench.report import TrafficWindow
from cio_sync_local.invariant import check_stack
from cio_sync_local.stack import APP_API_KEY, SITE_ID, TRACK_API_KEY, LocalStack

from .conftest import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

FOREIGN = ("legacy.subscriber@example.org", "12345")
MARK = {MANAGED_ATTRIBUTE: True}  # what every identify cio-sync sends carries
TRACK = "TrackFunction"


@pytest.fixture(scope="module")
def sweep() -> Iterator[Pipeline]:
    # The sweep's own parameters are the template's defaults (the opt-out walk on, the full read-back off):
    # the function runs as a stack deployed as documented; `reconcile --consent` runs the full read-back.
    with LocalStack(aws_port=0, cio_port=0, visibility_timeout_s=2, time_scale=0.01) as stack:
        yield Pipeline(stack)


@pytest.fixture(autouse=True)
def clean(sweep: Pipeline, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Every test starts from an idle pipeline, an empty table and an empty workspace, in a directory with no
    stack file (the command finds the stack through the environment the stack set)."""
    monkeypatch.chdir(tmp_path)
    sweep.drain()
    for member_id in list(sweep.repo.scan_ids()):
        sweep.repo.delete(member_id)
    sweep.drain()
    assert sweep.stack.emulator is not None
    with sweep.stack.emulator.state.lock:
        for person_id in list(sweep.stack.emulator.state.profiles):
            sweep.stack.emulator.state.delete(person_id)


def web(sweep: Pipeline) -> MemberItem:
    return sweep.repo.create_web_signup(
        {"email": f"web-{uuid.uuid4().hex[:10]}@example.org", "first_name": "Ada"}
    )


def seed(sweep: Pipeline, *people: tuple[str, dict[str, Any]]) -> None:
    assert sweep.stack.emulator is not None
    sweep.stack.emulator.state.seed(people)


def reconcile(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main(["reconcile", *argv, "--yes"])
    captured = capsys.readouterr()
    # The summary is the command's last line; the in-process handlers print their metrics (EMF) too.
    return code, json.loads(captured.out.strip().splitlines()[-1]), captured.err


def profiles(sweep: Pipeline) -> set[str]:
    return set(sweep.emulator("profiles"))


def test_only_profiles_without_an_eligible_member_are_deleted(
    sweep: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = [web(sweep)["id"] for _ in range(3)]
    muted = web(sweep)
    unsubscribed = web(sweep)
    gone = web(sweep)
    sweep.drain()
    sweep.repo.admin_mute(muted["id"])
    sweep.repo.update(unsubscribed["id"], {"email_subscription_status": False})  # the rules mute it too
    sweep.repo.delete(gone["id"])
    sweep.drain()
    assert profiles(sweep) == set(kept)

    # What the stream can no longer fix: profiles left behind for muted, unsubscribed and deleted members,
    # two that never had a member, and profiles cio-sync did not make: another system's person whose id
    # looks like a member id (no mark), and ids that are not member ids at all.
    orphans = [new_member_id(), new_member_id(), gone["id"]]
    theirs = new_member_id()
    seed(
        sweep,
        (muted["id"], dict(profile_attributes(muted))),
        (unsubscribed["id"], dict(profile_attributes(unsubscribed))),
        *((orphan, {"email": f"{orphan}@example.org", **MARK}) for orphan in orphans),
        (theirs, {"first_name": "Theirs"}),
        *((foreign, {"first_name": "Other"}) for foreign in FOREIGN),
        (sweep.placeholder, {}),
    )
    before = profiles(sweep)

    code, dry, err = reconcile(capsys, "--profiles-only", "--dry-run")
    assert code == 0
    assert dry["profiles"]["fixed"] == {"muted": 2, "no_member": 3}
    assert sorted(dry["profiles"]["examples"]["no_member"]) == sorted(orphans)
    assert "would fix" in err
    sweep.drain()
    assert profiles(sweep) == before  # a dry run sends nothing

    # The track function is held while both sides run: the members side's syncs would otherwise delete
    # the muted members' profiles before the sweep pages past them, and `scanned` would depend on speed.
    assert sweep.stack.pump is not None
    with sweep.stack.pump.hold(TRACK):
        code, summary, err = reconcile(capsys, "--run-id", "both-sides")
    assert code == 0, err
    assert summary["members"]["queued"] == len(kept) + 2  # the members side syncs every member in the table
    swept = summary["profiles"]
    assert swept["scanned"] == len(before)
    assert swept["fixed"] == {"muted": 2, "no_member": 3}
    assert swept["skipped"] == {"not_a_member_id": 2, "placeholder": 1, "unmanaged": 1}
    assert swept["complete"] is True
    # Progress and the summary name ids, never another source's id (an email address here).
    assert "profiles: scanned" in err
    assert not any(foreign in err + json.dumps(summary) for foreign in FOREIGN)
    sweep.drain()

    assert profiles(sweep) == {*kept, theirs, *FOREIGN, sweep.placeholder}
    problems = check_stack(
        sweep.stack.client("dynamodb"),
        sweep.stack.table_name(),
        sweep.stack.emulator_url,
        ignore_profiles={theirs, *FOREIGN, sweep.placeholder},
    )
    assert problems == []


def test_a_member_who_resubscribes_during_the_sweep_keeps_the_profile(
    sweep: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sweep queues a sync while the member is muted; the member resubscribes before the track
    function runs. Both syncs travel in the member's lane and the track function reads the item as it is
    when it sends: the profile is identified, never deleted."""
    member = web(sweep)
    sweep.drain()
    muted = sweep.repo.admin_mute(member["id"])
    sweep.drain()
    seed(sweep, (member["id"], dict(profile_attributes(muted))))
    assert sweep.stack.pump is not None
    with sweep.stack.pump.hold(TRACK):
        code, summary, _ = reconcile(capsys, "--profiles-only")
        assert code == 0
        assert summary["profiles"]["fixed"] == {"muted": 1}
        resubscribed = sweep.repo.update(member["id"], {"email_subscription_topics": ["news"]})
        assert resubscribed["promotions_muted_at"] is None
    sweep.drain()
    assert sweep.profile(member["id"]) is not None
    assert sweep.violations() == []


def test_the_brake_holds_every_delete_until_an_operator_approves_the_set(
    sweep: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    orphans = [new_member_id() for _ in range(5)]
    seed(sweep, *((orphan, MARK) for orphan in orphans))
    code, summary, err = reconcile(capsys, "--profiles-only", "--max-deletes", "2")
    assert code == 0
    held = summary["profiles"]["held_deletes"]
    assert summary["profiles"]["fixed"] == {}
    assert summary["profiles"]["withheld"] == {"no_member": 5}
    assert summary["profiles"]["orphans"] == 5
    assert f"--approve-deletes {held}" in err
    sweep.drain()
    assert profiles(sweep) == set(orphans)  # nothing was queued

    code, summary, err = reconcile(capsys, "--profiles-only", "--approve-deletes", held)
    assert code == 0, err
    assert summary["profiles"]["fixed"] == {"no_member": 5}
    sweep.drain()
    assert profiles(sweep) == set()


def test_the_sweep_paces_itself_under_the_app_api_limit(sweep: Pipeline) -> None:
    """The emulator enforces the App API's 10/s like Customer.io; a sweep of one orphan a page makes 41
    requests (the opt-out walk's search, then a search and a read of the mark each) at 8/s and none is
    refused. (A slower machine only spaces them further apart.)"""
    seed(sweep, *((new_member_id(), MARK) for _ in range(20)))
    assert sweep.stack.emulator is not None
    emulator = sweep.stack.emulator
    client = PeopleClient(
        Credentials(SITE_ID, TRACK_API_KEY, APP_API_KEY), base_url=sweep.stack.emulator_url, rate_per_s=8
    )
    since = time.time()
    outcome = sweep_profiles(
        client,
        BatchReadMembers(sweep.repo),
        None,
        SweepOptions(run_id="pace", placeholder_id=sweep.placeholder, page_size=1),
    )
    assert (outcome.scanned, outcome.pages, outcome.complete) == (20, 20, True)
    window = TrafficWindow.from_log(emulator.state.requests_json(), since, time.time(), track_only=False)
    assert window.requests == 41
    assert window.rate_limited == 0
    assert window.peak_per_second <= 8 + 1  # one second may hold both ends of an 8/s spacing


def _stream_position(sweep: Pipeline, member_id: str) -> tuple[str, str, str]:
    """(stream ARN, shard id, sequence number) of the member's INSERT record."""
    streams = sweep.stack.client("dynamodbstreams")
    stream_arn = sweep.stack.info["stream_arns"]["MemberTable"]
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            response = streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in response["Records"]:
                change = record["dynamodb"]
                if record["eventName"] == "INSERT" and change["Keys"]["id"]["S"] == member_id:
                    return stream_arn, shard["ShardId"], change["SequenceNumber"]
            if not response["Records"]:
                break
            iterator = response.get("NextShardIterator")
    raise AssertionError(f"no INSERT record for {member_id}")


def _lambda_failure(stream_arn: str, shard_id: str, start: str, end: str) -> str:
    """What Lambda writes to the on-failure destination for a stream batch it gave up on."""
    return json.dumps(
        {
            "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 3},
            "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": "2026-11-30T06:00:00.000Z",
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": start,
                "endSequenceNumber": end,
                "batchSize": 1,
                "streamArn": stream_arn,
            },
        }
    )


def test_from_failures_repairs_exactly_the_members_the_failures_name(
    sweep: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    parked, in_range, untouched = web(sweep), web(sweep), web(sweep)
    sweep.drain()
    # Their changes were lost on the way (the failures below are why): one stale, one never created.
    assert sweep.stack.emulator is not None
    sweep.stack.emulator.state.seed([(parked["id"], {"first_name": "Stale"})])
    sweep.stack.emulator.state.delete(in_range["id"])
    sweep.stack.emulator.state.seed([(untouched["id"], {"first_name": "Stale too"})])

    failures_url = sweep.stack.queue_url("StreamFailureQueue")
    sqs = sweep.stack.client("sqs")
    queues = SqsQueues(sqs, None, None, failures_url)
    stream_arn, shard_id, sequence = _stream_position(sweep, in_range["id"])
    record = {"eventID": "e1", "eventName": "MODIFY", "eventSourceARN": stream_arn}
    queues.record_stream_failure(
        {**record, "dynamodb": {"Keys": {"id": {"S": parked["id"]}}, "SequenceNumber": "7"}}, "parked: test"
    )
    queues.record_stream_failure(
        {**record, "dynamodb": {"Keys": {"id": {"S": "ada@example.org"}}, "SequenceNumber": "8"}},
        "parked: legacy key",
    )
    sqs.send_message(
        QueueUrl=failures_url, MessageBody=_lambda_failure(stream_arn, shard_id, sequence, sequence)
    )
    sqs.send_message(QueueUrl=failures_url, MessageBody=_lambda_failure(stream_arn, "shardId-gone", "1", "2"))

    code, dry, _ = reconcile(capsys, "--from-failures", "--dry-run")
    assert code == 1  # two entries cannot be resolved: the command says so
    assert dry["failures"]["members"] == 2
    assert dry["failures"]["deleted"] == 0

    code, summary, err = reconcile(capsys, "--from-failures")
    assert code == 1
    failures = summary["failures"]
    assert (failures["entries"], failures["resolved"], failures["members"], failures["deleted"]) == (
        4,
        2,
        2,
        2,
    )
    assert failures["ranges_read"] == 2
    reasons = sorted(entry["reason"] for entry in failures["unresolved"])
    assert reasons[0].startswith("shard shardId-gone sequence 1 to 2")
    assert "no longer in the stream" in reasons[0]
    assert "not a member id" in reasons[1]
    assert summary["members"]["queued"] == 2
    assert "profiles" not in summary
    assert "ada@example.org" not in err + json.dumps(summary)
    sweep.drain()

    restored = sweep.profile(parked["id"])
    assert restored is not None
    assert restored["first_name"] == "Ada"
    assert sweep.profile(in_range["id"]) is not None
    stale = sweep.profile(untouched["id"])
    assert stale is not None
    assert stale["first_name"] == "Stale too"  # no failure named it: left alone
    remaining = sqs.get_queue_attributes(
        QueueUrl=failures_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert remaining["Attributes"]["ApproximateNumberOfMessages"] == "2"
    sqs.purge_queue(QueueUrl=failures_url)


def test_the_scheduled_function_under_its_own_role_converges_both_halves(sweep: Pipeline) -> None:
    """The deployed function, in its own process and held to its role, as EventBridge would invoke it:
    it deletes the orphan it made, leaves another system's person, and re-creates a lost profile."""
    kept, lost = web(sweep), web(sweep)
    sweep.drain()
    assert sweep.stack.emulator is not None
    sweep.stack.emulator.state.delete(lost["id"])  # a delete applied after a later identify
    orphan, theirs = new_member_id(), new_member_id()
    seed(sweep, (orphan, MARK), (theirs, {"first_name": "Theirs"}))
    event = json.loads((Path(__file__).parents[3] / "events" / "profile_sweep.json").read_text("utf-8"))
    result = sweep.stack.invoke("ProfileSweepFunction", event)
    assert result.error is None, result.error
    assert result.response["complete"] is True
    assert result.response["fixed"] == {"missing": 1, "no_member": 1}
    assert result.response["member_scan"] == "done"
    sweep.drain()
    assert profiles(sweep) == {kept["id"], lost["id"], theirs}


def test_reconciling_the_members_marks_profiles_made_before_the_mark(
    sweep: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    """How existing profiles get the mark (docs/sweep.md): each member synced once, as identifies send it."""
    member = web(sweep)
    sweep.drain()
    assert sweep.stack.emulator is not None
    with sweep.stack.emulator.state.lock:  # as an older release left it
        del sweep.stack.emulator.state.profiles[member["id"]].attributes[MANAGED_ATTRIBUTE]
    code, dry, _ = reconcile(capsys, "--profiles-only", "--dry-run", "--check-attributes")
    assert code == 0
    assert dry["profiles"]["drifted_attributes"] == {MANAGED_ATTRIBUTE: 1}
    code, summary, err = reconcile(capsys, "--members-only")
    assert code == 0, err
    assert summary["members"]["queued"] == 1
    sweep.drain()
    profile = sweep.profile(member["id"])
    assert profile is not None
    assert profile[MANAGED_ATTRIBUTE] is True


def _unsubscribe_without_webhook(sweep: Pipeline, member_id: str) -> None:
    """The person clicks unsubscribe in Customer.io and the reporting webhook is lost (past its retries)."""
    assert sweep.stack.emulator is not None
    assert sweep.stack.emulator.state.unsubscribe(member_id) is not None


def test_an_unsubscribe_whose_webhook_was_lost_is_read_back_on_demand(
    sweep: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    kept, gone = web(sweep), web(sweep)
    sweep.drain()
    _unsubscribe_without_webhook(sweep, gone["id"])

    code, dry, err = reconcile(capsys, "--consent", "--dry-run")
    assert code == 0
    assert dry["profiles"]["consent"] == {"would_apply": 1}
    assert dry["profiles"]["consent_changes"] == {"email_subscription_status": 1}
    assert dry["profiles"]["examples"]["consent_read_back"] == [gone["id"]]
    assert "members" not in dry  # the read-back alone: nothing else is queued
    assert "would write email_subscription_status 1 for 1 member(s)" in err
    assert sweep.repo.get(gone["id"])["email_subscription_status"] is True  # type: ignore[index]

    code, summary, _ = reconcile(capsys, "--consent")
    assert code == 0
    assert summary["profiles"]["consent"] == {"applied": 1}
    assert summary["profiles"]["fixed"] == {}
    sweep.drain()
    # Email only: the stream's rules mute the member and the track function deletes the profile.
    after = sweep.repo.get(gone["id"])
    assert after is not None
    assert after["email_subscription_status"] is False
    assert after["promotions_muted_at"] is not None
    assert profiles(sweep) == {kept["id"]}
    # Read again, nothing is left to write.
    code, again, _ = reconcile(capsys, "--consent")
    assert (code, again["profiles"]["consent"]) == (0, {})


def test_with_the_default_settings_the_scheduled_function_reads_a_lost_opt_out_back(sweep: Pipeline) -> None:
    """Under its own role and the template's defaults (the opt-out walk; no full read-back): a member
    subscribed to both keeps the profile, `unsubscribed: true`, through a later login write and sync: the
    function wrote the opt-out the webhook never brought."""
    both = sweep.repo.create_web_signup(
        {
            "email": f"both-{uuid.uuid4().hex[:8]}@example.org",
            "mobile": "+15555550142",
            "sms_status": "active",
        }
    )
    sweep.drain()
    _unsubscribe_without_webhook(sweep, both["id"])
    event = json.loads((Path(__file__).parents[3] / "events" / "profile_sweep.json").read_text("utf-8"))
    result = sweep.stack.invoke("ProfileSweepFunction", event)
    assert result.error is None, result.error
    assert result.response["consent"] == {"applied": 1}
    assert (result.response["opt_out_walk"], result.response["opt_out_pages"]) == ("done", 1)
    assert sweep.stack.environment["PROFILE_SWEEP_READ_CONSENT"] == "false"
    sweep.drain()
    after = sweep.repo.get(both["id"])
    assert after is not None
    assert (after["email_subscription_status"], after["promotions_muted_at"]) == (False, None)
    sweep.repo.update(both["id"], {"last_authenticated_at": "2026-12-07T12:00:00.000000Z"})
    sweep.drain()
    profile = sweep.profile(both["id"])
    assert profile is not None
    assert profile["unsubscribed"] is True
