"""The emulator's subscription-centre attributes and the invariant checker's consent rule."""

from __future__ import annotations

from typing import Any

from cio_sync_local.emulator.state import EmulatorState
from cio_sync_local.invariant import expected_attributes, violations

TOPIC_1 = "cio_subscription_preferences.topics.topic_1"
TOPIC_2 = "cio_subscription_preferences.topics.topic_2"
MEMBER_ID = "5f0c8e2a9b1d4c3e2f1a0b9c"
OPTED_IN = "2026-11-26T10:00:00.000000Z"  # 1_795_687_200


def test_the_emulator_applies_dot_notation_to_one_topic_and_keeps_the_others() -> None:
    state = EmulatorState(clock=lambda: 1_795_700_000.0)
    state.identify("p", {TOPIC_1: True, TOPIC_2: True}, timestamp=100)
    state.identify("p", {TOPIC_2: False}, timestamp=200)
    assert state.profiles_json()["p"]["cio_subscription_preferences"] == {
        "topics": {"topic_1": True, "topic_2": False}
    }
    # One timestamp for the object: an older update of another topic is dropped too.
    state.identify("p", {TOPIC_1: False}, timestamp=150)
    assert state.profiles_json()["p"]["cio_subscription_preferences"] == {
        "topics": {"topic_1": True, "topic_2": False}
    }


def member() -> dict[str, Any]:
    return {
        "id": MEMBER_ID,
        "email": "someone@example.org",
        "email_subscription_status": True,
        "email_subscription_topics": ["news"],
        "promotions_muted_at": None,
        "email_opt_in_at": OPTED_IN,
    }


def profile(**changes: Any) -> dict[str, Any]:
    return {**expected_attributes(member(), {"news": 1, "clubs": 2}), **changes}


def check(actual: dict[str, Any], stamps: dict[str, int] | None) -> list[str]:
    return violations(
        {MEMBER_ID: member()},
        {MEMBER_ID: actual},
        topic_map={"news": 1, "clubs": 2},
        stamps=None if stamps is None else {MEMBER_ID: stamps},
    )


def test_an_opt_out_customerio_recorded_after_the_last_opt_in_is_no_violation() -> None:
    unsubscribed = profile(unsubscribed=True)
    assert check(unsubscribed, {"unsubscribed": 1_795_687_201}) == []
    assert check(unsubscribed, {"unsubscribed": 1_795_687_200}) == [
        f"{MEMBER_ID}: attributes differ: unsubscribed"
    ]
    assert check(unsubscribed, None) == [f"{MEMBER_ID}: attributes differ: unsubscribed"]
    # The other way round (the profile opted in, the member not) is never allowed.
    opted_in = profile(clubs_email_subscription_status=True)
    assert check(opted_in, {"clubs_email_subscription_status": 1_795_687_300}) != []


def test_a_topic_opted_out_on_the_preference_page_after_the_last_opt_in_is_no_violation() -> None:
    topics = {"cio_subscription_preferences": {"topics": {"topic_1": False, "topic_2": False}}}
    assert check(profile(**topics), {"cio_subscription_preferences": 1_795_687_300}) == []
    assert check(profile(**topics), {"cio_subscription_preferences": 1_795_687_100}) != []
    reopened = {"cio_subscription_preferences": {"topics": {"topic_1": True, "topic_2": True}}}
    assert check(profile(**reopened), {"cio_subscription_preferences": 1_795_687_300}) != []
