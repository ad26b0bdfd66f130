"""End to end on `cio-sync local up --no-demo`: after `cio-sync local drain`, Customer.io matches the table.

The invariant (ARCHITECTURE.md): once the pipeline is idle, a member has a profile exactly when the member
exists, is not muted and is subscribed to email or SMS; and the profile's attributes equal the payload
computed from the member item.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

import pytest

from cio_sync.members.contract import new_member_id, utc_now_iso
from cio_sync.members.subscriptions import sms_signup, web_signup
from cio_sync_local.invariant import violations
from tests.e2e.conftest import E2E_TIMEOUT, RunningStack

pytestmark = [pytest.mark.e2e, E2E_TIMEOUT]


def _assert_invariant(stack: RunningStack, member_id: str) -> None:
    profile = stack.profile(member_id)
    assert profile is None or profile["id"] == member_id  # the identifier, not an attribute, in Customer.io
    profiles = {member_id: profile["attributes"]} if profile is not None else {}
    assert violations({member_id: stack.member(member_id)}, profiles) == []


def _web_member(**fields: Any) -> dict[str, Any]:
    return web_signup({"email": f"{uuid.uuid4().hex[:12]}@example.org", **fields}, utc_now_iso())


def _sms_member(**fields: Any) -> dict[str, Any]:
    return sms_signup({"mobile": f"+1555{uuid.uuid4().int % 10**7:07d}", **fields}, utc_now_iso())


def test_scripted_members_end_where_the_invariant_says(local_stack: RunningStack) -> None:
    web = _web_member(first_name="Web")
    sms = _sms_member(first_name="Text")
    leaver = _web_member(first_name="Leaver")
    returner = _web_member(first_name="Returner")
    renamed = _web_member(first_name="Before")
    removed = _sms_member()
    for member in (web, sms, leaver, returner, renamed, removed):
        local_stack.put_member(member)
    local_stack.drain()
    for member in (web, sms, leaver, returner, renamed, removed):
        assert local_stack.profile(member["id"]) is not None

    # Raw writes, as other services make them: the stream function applies the mute rule itself.
    local_stack.set_fields(leaver["id"], email_subscription_status=False, sms_status="stop")
    local_stack.set_fields(returner["id"], email_subscription_status=False, sms_status="stop")
    local_stack.set_fields(renamed["id"], first_name="After", addr_city="Springfield")
    local_stack.delete_member(removed["id"])
    local_stack.drain()
    assert (local_stack.member(leaver["id"]) or {}).get("promotions_muted_at") is not None
    assert local_stack.profile(leaver["id"]) is None

    # Members resubscribe by choosing topics (Northstar's rule); the writer sets the status with them.
    local_stack.set_fields(returner["id"], email_subscription_status=True, email_subscription_topics=["news"])
    local_stack.drain()

    returned = local_stack.member(returner["id"]) or {}
    assert returned.get("promotions_muted_at") is None
    assert "promotions_resubscribe" in [event["name"] for event in local_stack.events(returner["id"])]
    for member in (web, sms, leaver, returner, renamed, removed):
        _assert_invariant(local_stack, member["id"])
    assert local_stack.member(removed["id"]) is None


def test_a_mute_import_deletes_exactly_the_listed_profiles(local_stack: RunningStack) -> None:
    listed = [_web_member() for _ in range(3)]
    kept = [_web_member() for _ in range(2)]
    for member in (*listed, *kept):
        local_stack.put_member(member)
    local_stack.drain()

    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["northstar_id", "note"])
    writer.writerows([member["id"].upper(), "listed"] for member in listed)
    writer.writerow([new_member_id(), "unknown"])
    key = f"mute-promotions/e2e-{uuid.uuid4().hex[:8]}.csv"
    local_stack.client("s3").put_object(
        Bucket=local_stack.info["bucket"], Key=key, Body=rows.getvalue().encode()
    )
    local_stack.drain()

    for member in listed:
        assert local_stack.profile(member["id"]) is None
        _assert_invariant(local_stack, member["id"])
    for member in kept:
        assert local_stack.profile(member["id"]) is not None
        _assert_invariant(local_stack, member["id"])
    reports = local_stack.client("s3").list_objects_v2(
        Bucket=local_stack.info["bucket"], Prefix="reports/mute-promotions/"
    )
    summaries = [item["Key"] for item in reports.get("Contents", []) if item["Key"].count("/") == 2]
    bodies = [
        json.loads(
            local_stack.client("s3").get_object(Bucket=local_stack.info["bucket"], Key=summary)["Body"].read()
        )
        for summary in summaries
        if summary.endswith(".json")
    ]
    (report,) = [body for body in bodies if body.get("source", {}).get("key") == key]
    assert report["status"] == "completed"
    assert report["counts"]["muted"] == len(listed)
    assert report["counts"]["not_found"] == 1


def test_a_forgot_password_email_goes_through_the_app_api(local_stack: RunningStack) -> None:
    member = _web_member()
    local_stack.put_member(member)
    intent = {
        "type": "send_email",
        "version": 1,
        "intent_id": f"forgot-{uuid.uuid4().hex}",
        "member_id": member["id"],
        "kind": "forgot_password",
        "data": {"reset_url": "https://example.org/reset/abc"},
    }
    local_stack.client("sqs").send_message(
        QueueUrl=local_stack.info["queues"]["EmailQueue"], MessageBody=json.dumps(intent)
    )
    local_stack.drain()

    sent = [email for email in local_stack.emails() if email.get("to") == member["email"]]
    assert len(sent) == 1
    assert (
        sent[0]["transactional_message_id"]
        == local_stack.info["environment"]["CUSTOMER_IO_FORGOT_PASSWORD_TRANSACTIONAL_MESSAGE_ID"]
    )
    assert sent[0]["message_data"] == intent["data"]


def test_drain_without_a_stack_is_one_line_and_a_non_zero_exit(
    local_stack: RunningStack, tmp_path: Any
) -> None:
    result = local_stack.cli(
        "local", "drain", "--timeout", "60"
    )  # waits on idleness, returns at once when idle
    assert result.returncode == 0
    elsewhere = RunningStack(tmp_path, local_stack.process, local_stack.info).cli("local", "drain")
    assert elsewhere.returncode == 1
    assert elsewhere.stderr.strip().startswith("cio-sync: no local stack is running here")
    assert "Traceback" not in elsewhere.stderr


def test_doctor_checks_the_configuration_and_fails_with_one_clear_line(local_stack: RunningStack) -> None:
    passed = local_stack.cli("doctor")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "ok        Track API credentials and region" in passed.stdout
    assert "ok        App API key" in passed.stdout
    assert "FAILED" not in passed.stdout

    secrets = local_stack.client("secretsmanager")
    name = local_stack.info["environment"]["CUSTOMER_IO_TRACK_SECRET_NAME"]
    original = secrets.get_secret_value(SecretId=name)["SecretString"]
    secrets.put_secret_value(
        SecretId=name, SecretString=json.dumps({**json.loads(original), "track_api_key": "wrong"})
    )
    try:
        failed = local_stack.cli("doctor")
    finally:
        secrets.put_secret_value(SecretId=name, SecretString=original)
    assert failed.returncode == 1
    (line,) = [line for line in failed.stdout.splitlines() if line.startswith("FAILED")]
    assert "Track API credentials and region" in line
    assert "401" in line
    assert "wrong" not in line


def test_the_operator_cli_reaches_the_local_stack_by_its_stack_name(local_stack: RunningStack) -> None:
    """`cio-sync --stack NAME` works against the local stack as against AWS: the stack's outputs name all."""
    member = _web_member(first_name="Named")
    local_stack.put_member(member)
    result = local_stack.cli("members", "show", member["id"], "--stack", local_stack.info["stack_name"])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["id"] == member["id"]
    # Any other name is a stack on AWS, which this machine cannot reach: one line, not the local stack.
    elsewhere = local_stack.cli("members", "show", member["id"], "--stack", "cio-sync-prod")
    assert elsewhere.returncode == 1
    assert elsewhere.stderr.startswith("cio-sync: ")
    assert "Traceback" not in elsewhere.stderr
