"""The local stack serves the receiver's function URL and registers it in the emulator, so an unsubscribe
clicked in the emulator travels as Customer.io's would: a signed webhook, the receiver, the consent
queue and function, the member table, the stream's rules, the profile."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cio_sync.members.contract import MemberItem, utc_now_iso
from cio_sync_cli.member_writes import MemberAdmin
from cio_sync_cli.stack_file import read_stack_file
from cio_sync_cli.webhook_check import judge
from cio_sync_local.stack import APP_API_KEY, LocalStack, stack_file

pytestmark = pytest.mark.integration

DRAIN_S = 120.0
BOUND_S = 120.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    state_dir = tmp_path_factory.mktemp("function-urls") / ".local"
    with LocalStack(
        aws_port=0, cio_port=0, visibility_timeout_s=2, time_scale=0.01, state_dir=state_dir
    ) as running:
        yield running


def _url(stack: LocalStack) -> str:
    url = stack.reporting_webhook_url
    assert url is not None
    return url


def _profile(stack: LocalStack, member_id: str) -> dict[str, Any] | None:
    answer = requests.get(f"{stack.emulator_url}/_emulator/profiles/{member_id}", timeout=30)
    if answer.status_code == 404:
        return None
    answer.raise_for_status()
    attributes: dict[str, Any] = answer.json()["attributes"]
    return attributes


def _answered(method: str, url: str, **options: Any) -> requests.Response:
    """The answer, sent again after a 502 as Customer.io would: a first invocation on a loaded machine may
    run past the function's 4 s timeout while it builds its clients."""
    for _ in range(10):
        answer = requests.request(method, url, timeout=30, **options)
        if answer.status_code != 502:
            return answer
    return answer


def _eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + BOUND_S
    while not check():
        assert time.monotonic() < deadline, f"not within {BOUND_S:g} s: {what}"
        time.sleep(0.2)


def _click_unsubscribe(stack: LocalStack, member: MemberItem) -> None:
    answer = requests.post(
        f"{stack.emulator_url}/_emulator/unsubscribe", json={"person_id": member["id"]}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["webhooks_queued"] == 1


def test_the_receiver_answers_on_its_url_recorded_in_stack_json(stack: LocalStack, tmp_path: Path) -> None:
    url = _url(stack)
    assert url.startswith(f"http://{stack.host}:")
    assert stack._state_dir is not None
    recorded = read_stack_file(stack_file(stack._state_dir))
    assert recorded is not None
    assert recorded["reporting_webhook_url"] == url
    assert recorded["outputs"]["ReportingWebhookUrl"] == url

    unsigned = _answered("POST", url, data=b'{"event_id":"x"}')
    assert (unsigned.status_code, unsigned.json()) == (401, {"result": "unsigned"})
    assert _answered("GET", url).status_code == 405


def test_the_emulator_lists_a_webhook_there_sending_what_consent_needs(stack: LocalStack) -> None:
    answer = requests.get(
        f"{stack.emulator_url}/v1/reporting_webhooks",
        headers={"Authorization": f"Bearer {APP_API_KEY}"},
        timeout=30,
    )
    answer.raise_for_status()
    check = judge(answer.json()["reporting_webhooks"], _url(stack))
    assert check.ok is True, check.detail


def test_an_email_only_member_who_unsubscribes_in_customer_io_is_muted_and_loses_the_profile(
    stack: LocalStack,
) -> None:
    repo = MemberAdmin(stack.table_name(), endpoint_url=stack.aws_endpoint)
    member = repo.create_web_signup({"email": f"u-{uuid.uuid4().hex[:8]}@example.org"})
    stack.drain(DRAIN_S)
    assert _profile(stack, member["id"]) is not None

    _click_unsubscribe(stack, member)

    _eventually(lambda: (repo.get(member["id"]) or {}).get("promotions_muted_at") is not None, "muted")
    stack.drain(DRAIN_S)
    after = repo.get(member["id"])
    assert after is not None
    assert after["email_subscription_status"] is False
    assert _profile(stack, member["id"]) is None


def test_a_member_on_both_channels_keeps_unsubscribed_through_a_login_and_a_sweep(stack: LocalStack) -> None:
    repo = MemberAdmin(stack.table_name(), endpoint_url=stack.aws_endpoint)
    mobile = f"+1555{uuid.uuid4().int % 10**7:07d}"
    member = repo.create_web_signup(
        {"email": f"b-{uuid.uuid4().hex[:8]}@example.org", "mobile": mobile, "sms_status": "active"}
    )
    stack.drain(DRAIN_S)
    _click_unsubscribe(stack, member)
    _eventually(
        lambda: (repo.get(member["id"]) or {}).get("email_subscription_status") is False, "unsubscribed"
    )
    stack.drain(DRAIN_S)

    repo.update(member["id"], {"last_authenticated_at": utc_now_iso()})  # a login: an identify is due
    stack.drain(DRAIN_S)
    swept = stack.invoke("ProfileSweepFunction", {"detail-type": "Scheduled Event"})
    assert swept.error is None, swept.error
    stack.drain(DRAIN_S)

    after = repo.get(member["id"])
    profile = _profile(stack, member["id"])
    assert after is not None
    assert after["promotions_muted_at"] is None
    assert profile is not None
    assert profile["unsubscribed"] is True
    assert profile.get("last_authenticated_at") is not None, json.dumps(profile)  # the login was synced
