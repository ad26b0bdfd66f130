"""`make run` is `cio-sync local up`: its demo must finish and show the profile changes of the mission."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import E2E_TIMEOUT, RunningStack

pytestmark = [pytest.mark.e2e, E2E_TIMEOUT]

MEMBER = r"[0-9a-f]{24}"


def test_the_demo_finishes_and_shows_what_changed_in_customer_io(local_stack: RunningStack) -> None:
    output = local_stack.output  # the shared stack waited for the demo to be over
    assert "demo stopped" not in output
    assert "demo finished" in output
    steps = re.split(r"\n\d+\. ", output)[1:]
    assert len(steps) == 8
    web_signup, sms_signup, unsubscribe, resubscribe, more_signups, mute_import, forgot_password = steps[:7]
    ada = re.search(rf"profile ({MEMBER}) created", web_signup)
    assert ada is not None
    assert re.search(rf"\+ profile {MEMBER} created .*sms_status=active", sms_signup)
    assert f"- profile {ada.group(1)} deleted" in unsubscribe
    assert f"+ profile {ada.group(1)} created" in resubscribe
    assert f"+ event promotions_resubscribe tracked for {ada.group(1)}" in resubscribe
    created = re.findall(rf"\+ profile ({MEMBER}) created", more_signups)
    assert len(created) == 2
    assert sorted(re.findall(rf"- profile ({MEMBER}) deleted", mute_import)) == sorted(created)
    assert re.search(r'import [0-9a-f]+: completed, counts \{"muted": 2, .*"not_found": 1', mute_import)
    assert "+ email forgot_password sent" in forgot_password
    in_customer_io = steps[7]
    assert "Customer.io sent 1 reporting webhook(s)" in in_customer_io
    assert f"- profile {ada.group(1)} deleted" in in_customer_io
    assert f"member {ada.group(1)}: email_subscription_status=False, muted=True" in in_customer_io
    assert "@" not in output  # members are shown by id: no addresses on screen
