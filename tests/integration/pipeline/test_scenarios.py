"""Every rule, end to end through the real handlers: after the pipeline is idle the invariant holds.

Writes go through the member model (as the operator CLI and sign-up flows do) or straight to the table
(as other services may); Customer.io is the emulator, which rejects what Customer.io rejects.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cio_sync.handlers import email as email_handler
from cio_sync.handlers import member_stream as stream_handler
from cio_sync.handlers import track as track_handler
from cio_sync.members.contract import MemberItem
from cio_sync.producer_api import producer
from cio_sync_local.invoker import LambdaContext
from tests.observability import captured_logs

from .conftest import Pipeline

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[3] / "events"


def web(pipeline: Pipeline, **fields: Any) -> MemberItem:
    email = f"web-{uuid.uuid4().hex[:10]}@example.org"
    return pipeline.repo.create_web_signup({"email": email, "first_name": "Ada", **fields})


def sms(pipeline: Pipeline, **fields: Any) -> MemberItem:
    mobile = f"+1555{uuid.uuid4().int % 10**7:07d}"
    return pipeline.repo.create_sms_signup({"mobile": mobile, "first_name": "Grace", **fields})


def test_sign_ups_get_profiles_with_the_computed_payload(pipeline: Pipeline) -> None:
    by_web, by_sms = web(pipeline, last_name="<b>Lovelace</b>"), sms(pipeline)
    pipeline.drain()
    assert pipeline.violations() == []
    web_profile = pipeline.profile(by_web["id"])
    assert web_profile is not None
    assert web_profile["last_name"] == "Lovelace"  # HTML stripped
    assert web_profile["community_email_subscription_status"] is True
    sms_profile = pipeline.profile(by_sms["id"])
    assert sms_profile is not None
    assert sms_profile["phone"] == by_sms["mobile"]


def test_unsubscribe_from_both_mutes_and_deletes_then_resubscribe_recreates_and_tracks_once(
    pipeline: Pipeline,
) -> None:
    member = web(pipeline, mobile="+15550101010", sms_status="active")
    pipeline.drain()
    pipeline.repo.update(member["id"], {"email_subscription_status": False, "sms_status": "stop"})
    pipeline.drain()
    muted = pipeline.repo.get(member["id"])
    assert muted is not None
    assert muted["promotions_muted_at"] is not None
    assert pipeline.profile(member["id"]) is None

    pipeline.repo.update(member["id"], {"email_subscription_topics": ["news"]})
    pipeline.drain()
    assert pipeline.profile(member["id"]) is not None
    resubscribed = [e for e in pipeline.events(member["id"]) if e["name"] == "promotions_resubscribe"]
    assert len(resubscribed) == 1
    assert pipeline.violations() == []


def test_admin_mute_deletion_request_and_removal_delete_profiles(pipeline: Pipeline) -> None:
    muted, leaving, removed = web(pipeline), sms(pipeline), web(pipeline)
    pipeline.drain()
    pipeline.repo.admin_mute(muted["id"])
    pipeline.repo.request_deletion(leaving["id"])
    pipeline.repo.delete(removed["id"])
    pipeline.drain()
    for member in (muted, leaving, removed):
        assert pipeline.profile(member["id"]) is None
    assert pipeline.violations() == []


def test_attribute_change_updates_the_profile_and_a_no_op_write_costs_nothing(pipeline: Pipeline) -> None:
    member = web(pipeline)
    pipeline.drain()
    pipeline.repo.update(member["id"], {"first_name": "Augusta", "addr_city": "London"})
    pipeline.drain()
    profile = pipeline.profile(member["id"])
    assert profile is not None
    assert (profile["first_name"], profile["addr_city"]) == ("Augusta", "London")

    before = pipeline.requests_total()
    stored = pipeline.stack.client("dynamodb").get_item(
        TableName=pipeline.stack.table_name(), Key={"id": {"S": member["id"]}}, ConsistentRead=True
    )["Item"]
    pipeline.stack.client("dynamodb").put_item(TableName=pipeline.stack.table_name(), Item=stored)
    pipeline.drain()
    assert pipeline.requests_total() == before
    assert pipeline.violations() == []


def test_raw_writes_get_the_rules_applied_by_the_stream(pipeline: Pipeline) -> None:
    leaver, returner = web(pipeline), web(pipeline)
    pipeline.drain()
    pipeline.raw_update(leaver["id"], email_subscription_status=False)
    pipeline.raw_update(returner["id"], email_subscription_status=False)
    pipeline.drain()
    assert pipeline.profile(leaver["id"]) is None
    # A raw resubscribe by topics alone: the stream sets the status and unmutes, as the model would.
    pipeline.raw_update(returner["id"], email_subscription_topics=["scholarships"])
    pipeline.drain()
    current = pipeline.repo.get(returner["id"])
    assert current is not None
    assert (current["email_subscription_status"], current["promotions_muted_at"]) == (True, None)
    assert pipeline.profile(returner["id"]) is not None
    assert [e["name"] for e in pipeline.events(returner["id"])] == ["promotions_resubscribe"]
    assert pipeline.violations() == []


def test_forgot_password_is_sent_once_to_the_placeholder_profile(pipeline: Pipeline) -> None:
    muted = web(pipeline)
    pipeline.repo.admin_mute(muted["id"])
    url = f"https://example.org/reset?token={uuid.uuid4().hex}"
    request_id = uuid.uuid4().hex
    producer().request_password_reset(muted["id"], url, request_id=request_id)
    producer().request_password_reset(muted["id"], url, request_id=request_id)  # a client retry
    pipeline.drain()
    sent = [e for e in pipeline.emulator("emails") if e.get("message_data", {}).get("url") == url]
    assert len(sent) == 1
    assert sent[0]["identifiers"] == {"id": pipeline.placeholder}
    assert sent[0]["to"] == muted["email"]
    assert pipeline.profile(muted["id"]) is None  # the member needs no profile


def test_password_update_sends_one_password_updated_email(pipeline: Pipeline) -> None:
    member = web(pipeline)
    pipeline.drain()
    pipeline.repo.update(member["id"], {"password_updated_at": "2026-11-26T12:00:00.000000Z"})
    pipeline.drain()
    sent = [e for e in pipeline.emulator("emails") if e["to"] == member["email"]]
    assert len(sent) == 1
    message_id = pipeline.stack.environment["CUSTOMER_IO_PASSWORD_UPDATED_TRANSACTIONAL_MESSAGE_ID"]
    assert str(sent[0]["transactional_message_id"]) == message_id


@pytest.mark.parametrize(
    ("function", "handler", "event_file"),
    [
        ("MemberStreamFunction", stream_handler.handler, "member_stream.json"),
        ("TrackFunction", track_handler.handler, "track.json"),
        ("EmailFunction", email_handler.handler, "email.json"),
    ],
)
def test_handlers_accept_the_sample_events(
    pipeline: Pipeline, function: str, handler: Any, event_file: str
) -> None:
    """The exact files `sam local invoke` uses: each handler answers a well-formed partial batch response."""
    event = json.loads((EVENTS / event_file).read_text(encoding="utf-8"))
    description = pipeline.stack.description
    response = handler(event, LambdaContext(description.functions[function], description.context.region))
    assert set(response) == {"batchItemFailures"}
    assert response["batchItemFailures"] == []
    pipeline.drain()


def test_logs_carry_no_personal_data(pipeline: Pipeline, capfd: pytest.CaptureFixture[str]) -> None:
    email = f"private-{uuid.uuid4().hex[:8]}@example.org"
    mobile = "+15557654321"
    fields = {
        "email": email,
        "mobile": mobile,
        "sms_status": "active",
        "first_name": "Zebedee",
        "last_name": "Quixote",
    }
    with captured_logs() as logs:
        member = pipeline.repo.create_web_signup(fields)
        pipeline.drain()
        pipeline.raw_update(member["id"], email_subscription_status=False, sms_status="stop")
        producer().request_password_reset(member["id"], "https://example.org/reset?token=secret-token")
        nobody = "0" * 24  # no such member: the email is dead-lettered, and that is logged too
        producer().request_password_reset(nobody, "https://example.org/reset?token=secret-token")
        pipeline.drain()
    output = logs.text + "".join(capfd.readouterr())  # log lines, and what was printed (metrics)
    assert member["id"] in output  # the logs did run, and name members by id
    assert "email dead-lettered" in output
    for secret in (email, mobile, "Zebedee", "Quixote", "secret-token"):
        assert secret not in output
    assert not re.search(r"[\w.+-]+@example\.org", output)


def test_what_was_sent_identifies_with_timestamps_and_private_transactional_mail(pipeline: Pipeline) -> None:
    """The emulator's request log holds each body as sent: identifies carry their send time (never before
    the item's updated_at, never in the future), and the reset goes out with retention disabled and to the
    placeholder even if it were unsubscribed."""
    member = web(pipeline)
    url = f"https://example.org/reset?token={uuid.uuid4().hex}"
    producer().request_password_reset(member["id"], url)
    pipeline.drain()
    stored = pipeline.repo.get(member["id"])
    assert stored is not None
    log = pipeline.emulator("requests")
    identifies = [
        item
        for entry in log
        if entry["path"] == "/api/v2/batch" and isinstance(entry.get("body"), dict)
        for item in entry["body"].get("batch", [])
        if item.get("action") == "identify" and item["identifiers"].get("id") == member["id"]
    ]
    assert identifies
    updated_at = int(datetime.fromisoformat(stored["updated_at"].replace("Z", "+00:00")).timestamp())
    assert updated_at <= identifies[-1]["timestamp"] <= time.time()
    (email,) = [
        entry["body"]
        for entry in log
        if entry["path"] == "/v1/send/email" and entry["body"]["message_data"].get("url") == url
    ]
    assert email["disable_message_retention"] is True
    assert email["send_to_unsubscribed"] is True
    assert all("authorization" not in str(entry).lower() for entry in log)
