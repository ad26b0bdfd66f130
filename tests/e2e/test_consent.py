"""End to end on `cio-sync local up`: a person unsubscribes inside Customer.io (the emulator's unsubscribe,
as the link in an email or the page's button does), and the member table hears of it through the stack's
reporting webhook URL; no later sync undoes it. Only what a user can reach: HTTP, boto3, the CLI."""

from __future__ import annotations

import os
import subprocess
import uuid
from typing import Any

import pytest
import requests

from cio_sync.members.contract import utc_now_iso
from cio_sync.members.subscriptions import web_signup
from tests.e2e.conftest import CLI, E2E_TIMEOUT, RunningStack

pytestmark = [pytest.mark.e2e, E2E_TIMEOUT]


def _member(**fields: Any) -> dict[str, Any]:
    return web_signup({"email": f"{uuid.uuid4().hex[:12]}@example.org", **fields}, utc_now_iso())


def _unsubscribe_in_customer_io(stack: RunningStack, member_id: str) -> None:
    answer = requests.post(
        f"{stack.info['emulator_url']}/_emulator/unsubscribe", json={"person_id": member_id}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["webhooks_queued"] == 1
    stack.drain()  # the webhook is sent, then the consent and stream functions run


def test_the_stack_file_gives_the_webhook_url_and_doctor_finds_it(local_stack: RunningStack) -> None:
    url = local_stack.info["reporting_webhook_url"]
    assert url.startswith("http://127.0.0.1:")
    doctor = local_stack.cli("doctor")
    line = next((text for text in doctor.stdout.splitlines() if "reporting webhook" in text), "")
    assert f"enabled at {url}" in line, doctor.stdout + doctor.stderr


def test_an_email_only_member_who_unsubscribes_in_customer_io_is_muted_without_a_profile(
    local_stack: RunningStack,
) -> None:
    member = _member()
    local_stack.put_member(member)
    local_stack.drain()
    assert local_stack.profile(member["id"]) is not None

    _unsubscribe_in_customer_io(local_stack, member["id"])

    after = local_stack.member(member["id"]) or {}
    assert after.get("email_subscription_status") is False
    assert after.get("promotions_muted_at") is not None
    assert local_stack.profile(member["id"]) is None


def test_a_member_on_both_channels_stays_unsubscribed_after_a_login_and_a_sweep(
    local_stack: RunningStack,
) -> None:
    mobile = f"+1555{uuid.uuid4().int % 10**7:07d}"
    member = _member(mobile=mobile, sms_status="active")
    local_stack.put_member(member)
    local_stack.drain()

    _unsubscribe_in_customer_io(local_stack, member["id"])
    local_stack.set_fields(member["id"], last_authenticated_at=utc_now_iso(), updated_at=utc_now_iso())
    local_stack.drain()
    # The operator's shell has credentials; the local stack accepts any (the CLI reads the table itself).
    credentials = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
    swept = subprocess.run(
        [*CLI, "reconcile", "--profiles-only", "--yes"],
        cwd=local_stack.directory,
        env={**os.environ, **credentials},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert swept.returncode == 0, swept.stderr
    local_stack.drain()

    profile = local_stack.profile(member["id"])
    assert profile is not None
    assert profile["attributes"]["unsubscribed"] is True
    assert "last_authenticated_at" in profile["attributes"]  # the login was synced after the opt-out
    assert (local_stack.member(member["id"]) or {}).get("promotions_muted_at") is None


def test_an_unsubscribe_whose_webhook_was_lost_reaches_the_member_through_a_default_reconcile(
    local_stack: RunningStack,
) -> None:
    """The webhook is lost past Customer.io's retries (the emulator sends none); `cio-sync reconcile` with
    no option reads the opt-out back (the opt-out walk), and a later login's sync keeps it."""
    mobile = f"+1555{uuid.uuid4().int % 10**7:07d}"
    member = _member(mobile=mobile, sms_status="active")
    local_stack.put_member(member)
    local_stack.drain()
    answer = requests.post(
        f"{local_stack.info['emulator_url']}/_emulator/unsubscribe",
        json={"person_id": member["id"], "webhooks": False},
        timeout=30,
    )
    assert answer.json() == {"unsubscribed": True, "webhooks_queued": 0}
    local_stack.drain()
    assert (local_stack.member(member["id"]) or {}).get("email_subscription_status") is True  # not heard

    credentials = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
    swept = subprocess.run(
        [*CLI, "reconcile", "--yes"],
        cwd=local_stack.directory,
        env={**os.environ, **credentials},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert swept.returncode == 0, swept.stderr
    local_stack.drain()
    after = local_stack.member(member["id"]) or {}
    assert (after.get("email_subscription_status"), after.get("promotions_muted_at")) == (False, None)

    local_stack.set_fields(member["id"], last_authenticated_at=utc_now_iso(), updated_at=utc_now_iso())
    local_stack.drain()
    profile = local_stack.profile(member["id"])
    assert profile is not None
    assert profile["attributes"]["unsubscribed"] is True
    assert "last_authenticated_at" in profile["attributes"]  # the login was synced after the opt-out
