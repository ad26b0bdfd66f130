"""Proof of the proof: each mutation of the product below makes the state machine fail on a short history
(its steps are the machine's own rules, run by `replay`: milliseconds, no search, nothing to be flaky),
and every history passes on the product as shipped, so it is the mutation the machine catches. The
invariant checker is what catches attribute drift: blinded, it misses mutation 7 on the same history.

| # | mutation (monkeypatched in process) | what is broken |
| - | --- | --- |
| 1 | `subscriptions._topics_changed` always False | a topic pick no longer subscribes to email (a rule) |
| 2 | `subscriptions.has_subscribed_sms_status` always True | an email unsubscribe never mutes (a rule) |
| 3 | `subscriptions.DEFAULT_SMS_TOPICS` = `("general",)` | SMS subscribers get one default topic (a rule) |
| 4 | `desired_profiles.is_profile_eligible` ignores the mute | muted members keep a profile (eligibility) |
| 5 | `diff.profile_changed` only sees eligibility flips | a payload change syncs nothing (the diff) |
| 6 | `diff._password_updated` always False | no password-updated email (the diff) |
| 7 | `profile.strip_html` is the identity | names reach Customer.io with their markup (the payload) |
| 8 | `desired_profiles.build_profile` drops `sms_paused` | an attribute never reaches Customer.io |
| 9 | `track_consumer.member_identifies` stamps 2**31 - updated_at | later changes are dropped (a timestamp) |
| 10 | `stream_records.check_rule_inputs` never raises | a contract breaker is not parked (a park) |
| 11 | `Redelivery.park_reason` parks at once | a Customer.io 5xx parks its work (a park) |
| 12 | `rule_enforcement.decide` ignores the carried decision | racing raw writes judged on their own image |
| 13 | `sweep_plan._queue` queues nothing | drift made in Customer.io stays (the sweep) |
| 14 | `consent_identify.opt_in_stamp` is the send time | a sync undoes a Customer.io opt-out (consent) |
| 15 | `member_stream._BatchRun._park_decisions` forgets the record's own | a budget park drops a decision |
| 16 | `member_stream._BatchRun._handle` takes every record as ruled | a park before the rules skips them |
| 17 | `diff._goes_back` always False | a login stamped by a clock behind leaves the profile ahead |
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from cio_sync.members import profile, raw_writes, subscriptions
from cio_sync.pipeline import (
    consent_identify,
    desired_profiles,
    member_stream,
    rule_enforcement,
    stream_records,
    sweep_plan,
    track_consumer,
)
from cio_sync.pipeline.redelivery import Redelivery
from cio_sync.sync import diff
from cio_sync_local import invariant

from .machine import PipelineMachine
from .verdict import MEMBERS

Step = tuple[str, dict[str, Any]]
M = MEMBERS[0]


class Draws:
    """`st.data()` for a replayed step: hands out the values the history names, in order."""

    def __init__(self, *values: Any) -> None:
        self.values = list(values)

    def draw(self, _strategy: Any) -> Any:
        return self.values.pop(0)


def replay(history: Sequence[Step]) -> None:
    """Run the machine's rules in this order, then its teardown (drain, sweep, verdict)."""
    machine = PipelineMachine()
    for name, arguments in history:
        getattr(machine, name)(**arguments)
    machine.teardown()


def _no_sms_paused(item: Any) -> Any:
    built = ORIGINAL_BUILD(item)
    attributes = dict(built.attributes)
    attributes.pop("sms_paused", None)
    return dataclasses.replace(built, attributes=attributes)


def _payload_blind(old: Any, new: Any, volatile_window_s: int = 86400) -> bool:
    return bool(subscriptions.is_profile_eligible(old) != subscriptions.is_profile_eligible(new))


def _counting_down(member_id: str, payload: Any, version: Any, sent_at_s: int, topic_map: Any) -> Any:
    """Every identify stamped older than the one before it: Customer.io drops each later change."""
    stamp = 2**31 - int(payload.get("updated_at") or 0)
    return ORIGINAL_IDENTIFIES(member_id, payload, stamp, stamp, topic_map)


def _own_image(carried: Any, old: Any, new: Any, now: str, **options: Any) -> Any:
    return ORIGINAL_DECIDE(None, old, new, now, **options)


def _own_decision_dropped(run: Any, position: int, change: Any, latest: Any) -> None:
    """A park as before issue 21's F5 fix: the decision before the record is carried past it, its own lost."""
    run.ruled.discard(position)
    ORIGINAL_PARK_DECISIONS(run, position, change, latest)


def _rules_skipped(run: Any, position: int, *rest: Any) -> Any:
    """A budget park as before review 41: a record parked before its rules ran never gets their decision."""
    run.ruled.add(position)
    return ORIGINAL_HANDLE(run, position, *rest)


def _raw(*names_then_values: Any, skew: int = 0) -> Step:
    """A raw write of `names` (the first argument, a list) with the values that follow."""
    return ("raw_write", {"member": M, "data": Draws(*names_then_values), "skew": skew})


ORIGINAL_BUILD = profile.build_profile
ORIGINAL_IDENTIFIES = consent_identify.member_identifies
ORIGINAL_DECIDE = raw_writes.decide
ORIGINAL_PARK_DECISIONS = member_stream._BatchRun._park_decisions
ORIGINAL_HANDLE = member_stream._BatchRun._handle
SETTLED: Step = ("members_sign_up", {"kinds": ["web", "none", "none"], "settled": True})
STREAM: Step = ("stream", {"count": 8, "crash_after": None})
TRACK: Step = ("track", {"crash": False})
UNSUBSCRIBE = _raw(["email_subscription_status"], False)
RENAME = _raw(["first_name"], "<b>Grace</b> Hopper")
# name: (module or class, attribute, replacement, a history that kills it)
MUTATIONS: dict[str, tuple[Any, str, Any, list[Step]]] = {
    "topic pick does not subscribe": (
        subscriptions,
        "_topics_changed",
        lambda *_: False,
        [SETTLED, UNSUBSCRIBE, STREAM, _raw(["email_subscription_topics"], ["news"])],
    ),
    "email unsubscribe never mutes": (
        subscriptions,
        "has_subscribed_sms_status",
        lambda _: True,
        [SETTLED, UNSUBSCRIBE],
    ),
    "one default SMS topic": (
        subscriptions,
        "DEFAULT_SMS_TOPICS",
        ("general",),
        [("members_sign_up", {"kinds": ["sms", "none", "none"], "settled": False})],
    ),
    "eligibility ignores the mute": (
        desired_profiles,
        "is_profile_eligible",
        lambda item: item is not None and subscriptions.is_email_subscribed(item),
        [SETTLED, ("model_write", {"member": M, "data": Draws(), "kind": "admin_mute"})],
    ),
    "payload changes not synced": (diff, "profile_changed", _payload_blind, [SETTLED, RENAME]),
    "no password email": (
        diff,
        "_password_updated",
        lambda *_: False,
        [SETTLED, ("password_update", {"member": M, "data": Draws()})],
    ),
    "markup not stripped": (profile, "strip_html", lambda text: text, [SETTLED, RENAME]),
    "sms_paused dropped": (
        desired_profiles,
        "build_profile",
        _no_sms_paused,
        [SETTLED, _raw(["sms_paused"], True)],
    ),
    "identify timestamps count down": (
        track_consumer,
        "member_identifies",
        _counting_down,
        [SETTLED, RENAME, STREAM, TRACK, ("time_passes", {"seconds": 61}), _raw(["first_name"], "Ada")],
    ),
    "contract breakers not parked": (
        stream_records,
        "check_rule_inputs",
        lambda *_: None,
        [SETTLED, ("break_rule_inputs", {"breaker": 1})],
    ),
    "retryable failures parked": (
        Redelivery,
        "park_reason",
        lambda self, count, reason, retryable=True: reason,
        [SETTLED, ("customerio_track_fault", {"fault": "500", "times": 6}), RENAME],
    ),
    "decisions from the record's own image": (
        rule_enforcement,
        "decide",
        _own_image,
        [
            SETTLED,
            UNSUBSCRIBE,
            STREAM,
            _raw(["email_subscription_topics"], ["news"]),
            _raw(["email_subscription_status"], False),  # before the stream decided the pick
        ],
    ),
    "a budget park drops the record's own decision": (
        member_stream._BatchRun,
        "_park_decisions",
        _own_decision_dropped,
        [
            ("members_sign_up", {"kinds": ["web", "none", "none"], "settled": False}),
            ("password_update", {"member": M, "data": Draws()}),  # moves the item before the rules' write
            ("record_budget_runs_out", {"nth": 1, "point": "end"}),  # the sign-up's record, once decided
        ],
    ),
    "a park before the rules skips them": (
        member_stream._BatchRun,
        "_handle",
        _rules_skipped,
        [SETTLED, UNSUBSCRIBE, ("record_budget_runs_out", {"nth": 1, "point": "start"})],
    ),
    "sweep queues nothing": (
        sweep_plan,
        "_queue",
        lambda *_: None,
        [SETTLED, ("someone_edits_customerio", {"member": M, "remove": True})],
    ),
    "a volatile timestamp going back rides along": (
        diff,
        "_goes_back",
        lambda *_: False,
        [
            SETTLED,
            _raw(["last_authenticated_at"], "2026-11-26T10:30:00.000000Z"),
            STREAM,
            TRACK,
            _raw(["last_authenticated_at"], "2026-11-26T08:00:00.000000Z"),  # same day, earlier
        ],
    ),
    "opt-ins stamped with the send time": (
        consent_identify,
        "opt_in_stamp",
        lambda _payload, sent_at_s: sent_at_s,
        [SETTLED, ("opt_out_in_customerio", {"member": M}), RENAME, STREAM, TRACK],
    ),
}


def _history(name: str) -> list[Step]:
    """A fresh copy: `Draws` are used up by a replay."""
    return [
        (rule, {k: Draws(*v.values) if isinstance(v, Draws) else v for k, v in arguments.items()})
        for rule, arguments in MUTATIONS[name][3]
    ]


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_the_history_passes_on_the_product_as_shipped(name: str) -> None:
    replay(_history(name))


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_the_machine_catches_the_mutation(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    target, attribute, replacement, _ = MUTATIONS[name]
    monkeypatch.setattr(target, attribute, replacement)
    with pytest.raises(AssertionError):
        replay(_history(name))


def checker_self_test() -> None:
    """The checker names an attribute a profile holds wrongly (and only that one)."""
    member_id = "5f0c8e2a9b1d4c3e2f1a0b01"
    member: dict[str, Any] = {"id": member_id, "email_subscription_status": True, "first_name": "Ada"}
    right = invariant.expected_attributes(member)
    assert invariant.violations({member_id: member}, {member_id: right}) == []
    wrong = {**right, "first_name": "<b>Ada</b>"}
    found = invariant.violations({member_id: member}, {member_id: wrong})
    assert found == [f"{member_id}: attributes differ: first_name"], found


def test_the_checker_sees_attribute_differences() -> None:
    checker_self_test()


@pytest.fixture
def blind_checker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(invariant, "attribute_differences", lambda *_: [])


@pytest.mark.usefixtures("blind_checker")
def test_a_checker_that_ignores_attributes_fails_its_self_test() -> None:
    with pytest.raises(AssertionError):
        checker_self_test()


@pytest.mark.usefixtures("blind_checker")
def test_with_a_blind_checker_the_machine_misses_attribute_drift(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine catches mutation 7 only through the checker: blind it, and the same history passes."""
    monkeypatch.setattr(profile, "strip_html", lambda text: text)
    replay(_history("markup not stripped"))


def test_the_oracle_imports_no_product_rules() -> None:
    """The oracle is written from the contract: nothing of the members, sync or pipeline packages."""
    here = Path(__file__).parent
    for module in ("oracle.py",):
        tree = ast.parse((here / module).read_text())
        imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)] + [
            alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        ]
        forbidden = ("cio_sync.members", "cio_sync.sync", "cio_sync.pipeline")
        assert not [name for name in imported if name.startswith(forbidden)], imported
    source = Path(invariant.__file__).read_text()
    assert "cio_sync." not in source.replace("cio_sync_local", "")
