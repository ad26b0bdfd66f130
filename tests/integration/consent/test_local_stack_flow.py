"""An unsubscribe made in Customer.io, through the local stack's deployed receiver and consent function
(roles enforced), the member table and the stream's rules, to the profile. The webhook is handed to the
receiver as the function URL would (serving the URL itself is the local stack's, later)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cio_sync.adapters.member_table import MemberRepository
from cio_sync.members.contract import MemberItem
from cio_sync_local.stack import REPORTING_WEBHOOK_SIGNING_KEY, LocalStack
from tests.unit.consent.signing import sign, url_event, webhook_body

pytestmark = pytest.mark.integration

DRAIN_S = 90.0


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(aws_port=0, cio_port=0, visibility_timeout_s=2, time_scale=0.01) as running:
        yield running


def _repo(stack: LocalStack) -> MemberRepository:
    return MemberRepository(stack.table_name(), endpoint_url=stack.aws_endpoint)


def _profile(stack: LocalStack, member_id: str) -> dict[str, Any] | None:
    answer = requests.get(f"{stack.emulator_url}/_emulator/profiles", timeout=30)
    answer.raise_for_status()
    profiles: dict[str, dict[str, Any]] = answer.json()
    return profiles.get(member_id)


def _unsubscribe_in_customer_io(stack: LocalStack, member: MemberItem) -> None:
    now = int(time.time())
    body = webhook_body(
        "customer", "unsubscribed", event_id=uuid.uuid4().hex, customer_id=member["id"], timestamp=now
    )
    signature = sign(body, now, REPORTING_WEBHOOK_SIGNING_KEY.encode())
    result = stack.invoke("ReportingWebhookFunction", url_event(body, timestamp=now, signature=signature))
    assert result.error is None
    assert result.response["statusCode"] == 202
    stack.drain(DRAIN_S)


def test_a_member_subscribed_to_email_only_is_muted_and_loses_the_profile(stack: LocalStack) -> None:
    repo = _repo(stack)
    member = repo.create_web_signup({"email": f"c-{uuid.uuid4().hex[:8]}@example.org"})
    stack.drain(DRAIN_S)
    assert _profile(stack, member["id"]) is not None
    _unsubscribe_in_customer_io(stack, member)
    after = repo.get(member["id"])
    assert after is not None
    assert after["email_subscription_status"] is False
    assert after["email_subscription_topics"] == []
    assert after["promotions_muted_at"] is not None
    assert _profile(stack, member["id"]) is None


def test_a_member_subscribed_to_both_keeps_the_profile_unsubscribed(stack: LocalStack) -> None:
    repo = _repo(stack)
    mobile = f"+1555{uuid.uuid4().int % 10**7:07d}"
    member = repo.create_web_signup(
        {"email": f"c-{uuid.uuid4().hex[:8]}@example.org", "mobile": mobile, "sms_status": "active"}
    )
    stack.drain(DRAIN_S)
    _unsubscribe_in_customer_io(stack, member)
    after = repo.get(member["id"])
    assert after is not None
    assert after["promotions_muted_at"] is None
    profile = _profile(stack, member["id"])
    assert profile is not None
    assert profile["unsubscribed"] is True
    assert profile["email_subscription_status"] is False
