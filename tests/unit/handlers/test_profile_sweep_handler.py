"""The profile sweep's entry point: options from its runtime and event, metrics, one log line, no data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cio_sync.handlers.profile_sweep import handle, run_id, start_of
from cio_sync.handlers.profile_sweep_runtime import (
    ProfileSweepRuntime,
    ProfileSweepSettings,
    finds_missing,
)
from cio_sync.members.profile import MANAGED_ATTRIBUTE, profile_attributes
from cio_sync.members.subscriptions import web_signup
from cio_sync.observability import metrics
from cio_sync.pipeline.consent import ConsentPolicy
from cio_sync.pipeline.consent_readback import member_fields
from tests.observability import LogLines, captured_logs
from tests.unit.pipeline.fakes import FakePublisher
from tests.unit.pipeline.sweep_fakes import FakeConsent, FakeDirectory, FakeMembers

NOW_S = 1_795_000_000.0
SETTINGS = {
    "AWS_REGION": "us-east-1",
    "MEMBER_TABLE_NAME": "members",
    "TRACK_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/track.fifo",
    "CUSTOMER_IO_REGION": "us",
    "CUSTOMER_IO_APP_SECRET_NAME": "cio-sync/customer-io-app",
    "CUSTOMER_IO_ENABLED": "true",
    "CUSTOMER_IO_APP_URL": "",
    "CUSTOMER_IO_APP_IDENTIFIER_ID": "cio-sync-transactional",
    "PROFILE_SWEEP_APP_RATE_PER_S": "5",
    "PROFILE_SWEEP_CHECK_ATTRIBUTES": "false",
    "PROFILE_SWEEP_MAX_DELETES": "10000",
    "PROFILE_SWEEP_FIND_MISSING": "true",
    "PROFILE_SWEEP_READ_CONSENT": "false",
    "PROFILE_SWEEP_READ_OPT_OUTS": "true",
    "VOLATILE_SYNC_WINDOW_S": "86400",
}

ORPHAN = "0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def fresh_metrics() -> Iterator[None]:
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    with captured_logs() as lines:
        yield lines


def metric(name: str) -> float:
    entry = metrics.metric_set.get(name)
    return float(sum(entry["Value"])) if entry else 0.0


def runtime(directory: FakeDirectory, members: FakeMembers, publisher: FakePublisher) -> ProfileSweepRuntime:
    return ProfileSweepRuntime(
        directory=directory,
        members=members,
        publisher=publisher,
        placeholder_id="cio-sync-transactional",
        check_attributes=False,
        max_deletes=1000,
        volatile_window_s=86400,
        clock=lambda: NOW_S,
    )


def workspace() -> tuple[FakeDirectory, FakeMembers, str]:
    alive = web_signup(
        {"email": "kept.member@example.org", "first_name": "Kept"}, "2026-11-26T10:00:00.000000Z"
    )
    directory = FakeDirectory(
        people={
            alive["id"]: dict(profile_attributes(alive)),
            ORPHAN: {"id": ORPHAN, "email": "gone.member@example.org", MANAGED_ATTRIBUTE: True},
            "someone@example.org": {"id": "someone@example.org"},
            "cio-sync-transactional": {"id": "cio-sync-transactional"},
        }
    )
    return directory, FakeMembers({alive["id"]: alive}), alive["id"]


def test_a_run_queues_the_orphan_and_reports_counts_as_metrics_and_one_log_line(log_lines: LogLines) -> None:
    directory, members, _ = workspace()
    publisher = FakePublisher()
    result = handle(
        {"source": "aws.events", "detail-type": "Scheduled Event"},
        None,
        runtime(directory, members, publisher),
    )
    assert publisher.member_ids() == [ORPHAN]
    assert result["run_id"] == run_id(NOW_S, None) == "sweep-20261118T110640Z"
    assert result["complete"] is True
    assert metric("ProfileSweepScanned") == 4
    assert metric("ProfileSweepOrphans") == 1
    assert metric("ProfileSweepDeletesQueued") == 1
    assert metric("ProfileSweepSkipped") == 2
    assert metric("ProfileSweepIncomplete") == 0
    (line,) = [entry for entry in log_lines.entries if entry["message"] == "profile sweep finished"]
    assert line["fixed"] == {"no_member": 1}
    assert line["skipped"] == {"not_a_member_id": 1, "placeholder": 1}
    # Ids and counts only: never an email address, not even one that is a profile's id.
    assert "@" not in log_lines.text


def test_a_stopped_run_warns_and_counts_as_incomplete(log_lines: LogLines) -> None:
    directory, members, _ = workspace()
    publisher = FakePublisher(fail_track=True)
    handle({}, None, runtime(directory, members, publisher))
    assert metric("ProfileSweepIncomplete") == 1
    assert [entry["message"] for entry in log_lines.entries if "sweep" in entry["message"]] == [
        "profile sweep incomplete"
    ]


def test_deletes_held_back_by_the_brake_warn_and_count_as_incomplete(log_lines: LogLines) -> None:
    """Opted-out members' profiles left in place must reach the alarm, not only an info line."""
    directory, members, _ = workspace()
    publisher = FakePublisher()
    handle({}, None, runtime(directory, members, publisher)._replace(max_deletes=0))
    assert publisher.member_ids() == []
    assert metric("ProfileSweepWithheld") == 1
    assert metric("ProfileSweepIncomplete") == 1
    messages = [entry["message"] for entry in log_lines.entries if "sweep" in entry["message"]]
    assert messages == ["profile sweep held every delete: more than ProfileSweepMaxDeletes"]


@pytest.mark.parametrize(
    ("event", "start"),
    [({"start": "abc"}, "abc"), ({"start": ""}, None), ({"start": 3}, None), ({}, None), ([], None)],
)
def test_only_a_manual_invocation_passes_a_cursor(event: Any, start: str | None) -> None:
    assert start_of(event) == start


# ---- issue 21's sweep histories, through the handler ---------------------------------------------------


def test_history_the_sweep_deletes_other_systems_people() -> None:
    """Another MongoDB-backed system's person (a 24-hex id, no member here, no cio-sync mark) used to be
    deleted like an orphan. Now only the profile cio-sync made goes; theirs is counted and named."""
    directory, members, _ = workspace()
    theirs = "5f0c0ffee0c0ffee0c0ffee0"
    directory.people[theirs] = {"id": theirs, "email": "their.user@example.org"}
    publisher = FakePublisher()
    result = handle({}, None, runtime(directory, members, publisher))
    assert publisher.member_ids() == [ORPHAN]
    assert result["skipped"]["unmanaged"] == 1
    assert metric("ProfileSweepUnmanaged") == 1


def test_history_the_brake_holds_deletes_before_any_is_queued() -> None:
    """Over the brake, the sweep used to queue the first max_deletes and stop; now it queues none and names
    the set for an operator's go-ahead."""
    directory, members, _ = workspace()
    second = "0123456789abcdef0123aaaa"
    directory.people[second] = {"id": second, MANAGED_ATTRIBUTE: True}
    publisher = FakePublisher()
    result = handle({}, None, runtime(directory, members, publisher)._replace(max_deletes=1))
    assert publisher.member_ids() == []
    assert result["withheld"] == {"no_member": 2}
    assert str(result["held_deletes"]).startswith("2-")


def test_history_the_sweep_repairs_only_one_half() -> None:
    """An eligible member whose profile was never made (a sign-up lost with dropped stream records) used to
    stay without one for good; a scheduled run now queues the sync that re-creates it."""
    directory, members, alive_id = workspace()
    lost = web_signup({"email": "lost.signup@example.org"}, "2026-11-26T11:00:00.000000Z")
    members.items[lost["id"]] = lost
    publisher = FakePublisher()
    deps = runtime(directory, members, publisher)._replace(scanner=members, find_missing=True)
    result = handle({"source": "aws.events"}, None, deps)
    assert sorted(publisher.member_ids()) == sorted([ORPHAN, lost["id"]])
    assert alive_id not in publisher.member_ids()
    assert result["fixed"] == {"missing": 1, "no_member": 1}
    assert result["member_scan"] == "done"
    assert metric("ProfileSweepCreatesQueued") == 1


@pytest.mark.parametrize(("enabled", "find_missing"), [("true", True), ("false", False)])
def test_a_dry_run_never_scans_for_missing_profiles(enabled: str, find_missing: bool) -> None:
    """With Customer.io disabled the walk lists nobody, so every eligible member would look missing."""
    settings = ProfileSweepSettings.from_env({**SETTINGS, "CUSTOMER_IO_ENABLED": enabled})
    assert finds_missing(settings) is find_missing


def test_consent_read_back_is_counted_as_a_metric() -> None:
    """A member who unsubscribed in Customer.io (the webhook lost): the run writes the opt-out and says so."""
    directory, members, alive_id = workspace()
    directory.people[alive_id]["unsubscribed"] = True
    directory.stamps[alive_id] = {"unsubscribed": 1_800_000_000}  # after the sign-up's opt-in
    policy = ConsentPolicy(
        {}, bounce_unsubscribes=False, quarantine=None, placeholder_id="cio-sync-transactional"
    )
    writer = FakeConsent(members)
    deps = runtime(directory, members, FakePublisher())._replace(consent=policy, consent_writer=writer)
    result = handle({"source": "aws.events"}, None, deps)
    at = "2027-01-15T08:00:00.000000Z"  # the profile's own stamp: the person's time, marked as Customer.io's
    opted_out = {"email_opt_out_at": at, "email_cio_opt_out_at": at}
    assert writer.writes == [(alive_id, {"email_subscription_status": False, **opted_out})]
    assert result["consent"] == {"applied": 1}
    assert metric("ProfileSweepConsentReadBack") == 1
    assert metric("ProfileSweepConsentUnread") == 0


def test_the_read_back_reads_the_consent_fields_and_writes_through_the_consent_writer() -> None:
    settings = ProfileSweepSettings.from_env(
        {**SETTINGS, "PROFILE_SWEEP_READ_CONSENT": "true", "EMAIL_TOPIC_MAP": "news=1"}
    )
    assert settings.consent_policy() == ConsentPolicy(
        {"topic_1": "news"}, False, None, "cio-sync-transactional"
    )
    assert ProfileSweepSettings.from_env(SETTINGS).consent_policy() is None
    fields = member_fields(check_attributes=False, read_consent=True)
    assert fields is not None
    assert {"email_opt_in_at", "email_opt_out_at", "email_subscription_topics", "updated_at"} <= set(fields)
    assert member_fields(check_attributes=True, read_consent=True) is None  # whole items


def test_with_the_default_settings_a_lost_unsubscribe_webhook_converges() -> None:
    """Only a writer, as `build` gives one with ProfileSweepReadOptOuts' default: the opt-out walk runs,
    though the full read-back (ProfileSweepReadConsent) is off."""
    directory, members, alive_id = workspace()
    directory.people[alive_id]["unsubscribed"] = True
    directory.stamps[alive_id] = {"unsubscribed": 1_800_000_000}  # after the sign-up's opt-in
    writer = FakeConsent(members)
    deps = runtime(directory, members, FakePublisher())._replace(consent_writer=writer)
    assert deps.consent is None
    result = handle({"source": "aws.events"}, None, deps)
    [(written_id, change)] = writer.writes
    assert written_id == alive_id
    assert change["email_subscription_status"] is False
    assert change["email_opt_out_at"] == change["email_cio_opt_out_at"]  # the person's own opt-out
    assert result["opt_out_walk"] == "done"
    assert metric("ProfileSweepConsentReadBack") == 1
    assert metric("ProfileSweepOptOutPages") == 1
    settings = ProfileSweepSettings.from_env(SETTINGS)
    assert settings.read_opt_outs is True
    off = ProfileSweepSettings.from_env({**SETTINGS, "PROFILE_SWEEP_READ_OPT_OUTS": "false"})
    assert off.read_opt_outs is False


class Invocation:
    """A Lambda context as far as the run id reads it."""

    def __init__(self, request_id: str) -> None:
        self.aws_request_id = request_id


def test_two_runs_in_one_second_queue_each_its_own_intents() -> None:
    """Intent ids name the run, and SQS FIFO drops a repeated one for 5 minutes: a schedule and an
    operator's run in the same second must not take each other's repairs for duplicates (the state machine
    found a drift left in place so)."""
    first = run_id(NOW_S, Invocation("9f1c2d3e-aaaa-bbbb-cccc-000000000001"))
    second = run_id(NOW_S, Invocation("0b7a6c5d-aaaa-bbbb-cccc-000000000002"))
    assert first != second
    assert first.startswith("sweep-20261118T110640Z-")
