"""Model writes racing raw writes: whatever the interleaving, the final item is the rules applied write by
write, in write order, as for raw writes alone (test_racing_writes.py).

A model write reads the item as it is (it may still owe a raw write its rule decision), applies the
rules to it, writes the result and names the rule inputs its caller set (`model_write`), as
`cio_sync_cli.member_writes.MemberAdmin` does against DynamoDB (tests/integration/members covers that
adapter through the real handler). Unlike a raw write, a model write may restate any value: the stream
is told, not left to guess.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cio_sync.members.raw_writes import MODEL_WRITE, model_write_marker
from cio_sync.members.subscriptions import MUTED_AT, apply_subscription_rules, is_profile_eligible, web_signup
from cio_sync_local.adversary import RAW_VALUES, sequential, visible_write

from .race_harness import MEMBER, RaceHarness, initial_member, play
from .table_sim import SimTable, iso


class ModelTable(SimTable):
    def model_write(self, member_id: str, changes: dict[str, Any]) -> str:
        """The repository's update: rules applied to the item as read, the marker stamped; returns `now`."""
        old = copy.deepcopy(self.items[member_id])
        updated_at = self.tick()
        now = iso(datetime.fromtimestamp(self.clock_s, UTC))  # the record's time, as the oracle stamps it
        decided = apply_subscription_rules(old, {**old, **copy.deepcopy(changes)}, now)
        new = {name: value for name, value in decided.items() if value is not None or name == MUTED_AT}
        new["updated_at"] = updated_at
        new[MODEL_WRITE] = model_write_marker(updated_at, changes)
        self.items[member_id] = new
        self._record(old, new)
        return now


class Harness(RaceHarness):
    """Raw writes, and model writes that apply the rules themselves and mark what their caller set."""

    def __init__(self, initial: dict[str, Any]) -> None:
        self.models = ModelTable()
        super().__init__(initial, self.models, uncompared=frozenset({"updated_at", MODEL_WRITE}))

    def model_write(self, changes: dict[str, Any]) -> None:
        now = self.models.model_write(MEMBER, changes)
        self.oracle = sequential(self.oracle, changes, now)
        self.steps.append(f"model {changes}")


@st.composite
def histories(draw: st.DrawFn) -> Harness:
    harness = Harness(initial_member(draw))

    def raw() -> None:
        names = draw(st.lists(st.sampled_from(sorted(RAW_VALUES)), min_size=1, max_size=3, unique=True))
        if write := visible_write(harness.raw, harness.oracle, names, lambda c: draw(st.sampled_from(c))):
            harness.write(write)

    def model() -> None:
        # Any value, the one the item already holds included: the marker says what was set.
        names = draw(st.lists(st.sampled_from(sorted(RAW_VALUES)), min_size=1, max_size=3, unique=True))
        harness.model_write({name: draw(st.sampled_from(RAW_VALUES[name])) for name in names})

    play(draw, harness, [raw, model, model])
    return harness


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(harness=histories())
def test_any_interleaving_of_model_and_raw_writes_ends_as_the_rules_write_by_write(harness: Harness) -> None:
    harness.drain()
    assert harness.differences() == {}
    assert is_profile_eligible(harness.raw) == is_profile_eligible(harness.oracle)


def test_a_model_sms_stop_racing_a_raw_topic_pick_keeps_the_email_opt_in() -> None:
    """Issue 21's history on the in-memory table (the moto version runs the real adapter)."""
    member = web_signup(
        {"id": MEMBER, "email": "someone@example.org", "mobile": "+15555550123"}, "2026-11-26T09:00:00Z"
    )
    member.update(
        {"email_subscription_status": False, "email_subscription_topics": [], "sms_status": "active"}
    )
    harness = Harness(member)
    harness.drain()
    harness.write({"email_subscription_topics": ["news"]})
    harness.model_write({"sms_status": "stop"})
    harness.drain()
    assert harness.raw[MUTED_AT] is None
    assert is_profile_eligible(harness.raw)
    assert harness.differences() == {}


def _muted_on_both_channels_and_synced() -> Harness:
    """A member with email and SMS who unsubscribed from email (muted), the stream caught up."""
    member = web_signup(
        {"id": MEMBER, "email": "someone@example.org", "mobile": "+15555550123"}, "2026-11-26T09:00:00Z"
    )
    muted = {"email_subscription_status": False, "email_subscription_topics": []}
    member.update({**muted, MUTED_AT: "2026-11-26T09:00:00Z"})
    harness = Harness(member)
    harness.drain()
    return harness


def test_an_admin_mute_on_an_item_its_rules_had_not_reached_keeps_the_time_it_was_given() -> None:
    """Found by a hunt: muted and unsubscribed; raw writes pick a topic (the rules will unmute) and restate
    the old mute beside an SMS opt-in; before the stream runs, a model write stops SMS and states that mute
    time. The model, reading the unruled item, saw its own mute time as no change and stamped its clock;
    the stream kept the model's clock over the time its caller gave. The caller's stated time stands."""
    harness = _muted_on_both_channels_and_synced()
    old_mute = "2026-11-20T08:00:00.000000Z"
    harness.write({"email_subscription_topics": ["news"]})
    harness.write({MUTED_AT: old_mute, "sms_status": "active"})
    harness.model_write({MUTED_AT: old_mute, "sms_status": "stop"})
    harness.drain()
    assert harness.raw[MUTED_AT] == old_mute
    assert harness.differences() == {}


def test_a_model_write_restating_the_mute_it_read_is_stamped_by_the_model() -> None:
    """Found by a hunt, the other side of the test above: when write by write the item already holds the
    mute time the model write states, it is no new time of its caller's: the model's own stamp stands."""
    harness = _muted_on_both_channels_and_synced()
    old_mute = "2026-11-20T08:00:00.000000Z"
    harness.write({"email_subscription_status": True, "email_subscription_topics": ["news"]})
    harness.write({"email_subscription_status": False})
    harness.write({"email_subscription_status": True})
    harness.write({MUTED_AT: old_mute, "email_subscription_topics": []})
    harness.model_write(
        {"email_subscription_status": False, "email_subscription_topics": [], MUTED_AT: old_mute}
    )
    harness.drain()
    assert harness.differences() == {}
