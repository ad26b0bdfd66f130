"""`model_write`: a model write names the rule inputs it set, and only its own record is read that way."""

from __future__ import annotations

from typing import Any

import pytest

from cio_sync.members.raw_writes import (
    MODEL_WRITE,
    decide,
    model_write_marker,
    stated_rule_inputs,
    stated_values,
)

MEMBER = "5f0c8e2a9b1d4c3e2f1a0b9c"
AT = "2026-11-26T10:00:00.000000Z"
NOW = "2026-11-26T10:00:01.000000Z"


def test_the_marker_of_the_write_itself_names_the_rule_inputs_it_set() -> None:
    marker = model_write_marker(AT, ["sms_status", "first_name", "promotions_muted_at"])
    assert marker == f"{AT}|promotions_muted_at,sms_status"
    stated = stated_rule_inputs({"updated_at": AT, MODEL_WRITE: marker})
    assert stated == frozenset({"sms_status", "promotions_muted_at"})
    assert stated_rule_inputs({"updated_at": AT, MODEL_WRITE: model_write_marker(AT, [])}) == frozenset()


def test_the_marker_of_an_update_carries_its_callers_values_over_the_items() -> None:
    """The item holds what the rules made of the caller's values (here a mute for its null): the stream
    re-decides from the caller's."""
    marker = model_write_marker(AT, {"sms_status": "stop", "promotions_muted_at": None, "first_name": "A"})
    item = {"updated_at": AT, MODEL_WRITE: marker, "sms_status": "stop", "promotions_muted_at": AT}
    assert stated_values(item) == {"sms_status": "stop", "promotions_muted_at": None}
    assert stated_rule_inputs(item) == frozenset({"sms_status", "promotions_muted_at"})


@pytest.mark.parametrize(
    "values",
    ['{"sms_status":["stop"]}', '{"email_subscription_status":true}', "[1]", "{"],
    ids=["breaks the contract", "names another input", "not an object", "not JSON"],
)
def test_a_marker_whose_values_do_not_hold_is_a_raw_write(values: str) -> None:
    assert stated_values({"updated_at": AT, MODEL_WRITE: f"{AT}|sms_status|{values}"}) is None


@pytest.mark.parametrize(
    "item",
    [
        {"updated_at": NOW, MODEL_WRITE: f"{AT}|sms_status"},  # left by an earlier write
        {"updated_at": AT, MODEL_WRITE: AT},  # no separator
        {"updated_at": AT, MODEL_WRITE: f"{AT}|first_name"},  # not a rule input
        {"updated_at": AT, MODEL_WRITE: 7},
        {"updated_at": AT},
    ],
    ids=["stale", "no separator", "not a rule input", "not text", "absent"],
)
def test_anything_else_is_a_raw_write(item: dict[str, Any]) -> None:
    assert stated_rule_inputs(item) is None


def _pending_pick() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The previous decision subscribed to email for a topic pick the table does not show yet."""
    old = {
        "id": MEMBER,
        "email_subscription_status": False,
        "email_subscription_topics": ["news"],
        "sms_status": "active",
        "sms_subscription_topics": ["general"],
        "promotions_muted_at": None,
        "updated_at": "2026-11-26T09:00:00.000000Z",
    }
    before = {"email_subscription_status": True}
    new = {**old, "last_authenticated_at": AT, "updated_at": AT}
    return before, old, new


def test_a_raw_touch_over_a_pending_pick_is_taken_for_an_unseen_opt_out() -> None:
    before, old, new = _pending_pick()
    decision = decide(before, old, new, NOW)
    assert decision.assumed_opt_out
    assert decision.item["email_subscription_status"] is False


def test_a_model_touch_over_a_pending_pick_keeps_it() -> None:
    before, old, new = _pending_pick()
    new[MODEL_WRITE] = model_write_marker(AT, [])
    decision = decide(before, old, new, NOW)
    assert not decision.assumed_opt_out
    assert decision.item["email_subscription_status"] is True


def test_a_model_write_that_restated_false_over_a_pending_pick_unsubscribes() -> None:
    before, old, new = _pending_pick()
    new[MODEL_WRITE] = model_write_marker(AT, ["email_subscription_status"])
    decision = decide(before, old, new, NOW)
    assert decision.item["email_subscription_status"] is False
    assert decision.item["email_subscription_topics"] == []
