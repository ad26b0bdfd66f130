"""The state machine over every writer (tests/unit/stateful/machine.py), in the unit suite.

`CIO_SYNC_STATEFUL_EXAMPLES` runs it longer (docs/benchmarks.md has both runs' cost: the default, with the
mutation table, about 20 s of CPU).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from .machine import PipelineMachine
from .test_mutations import Draws
from .verdict import MEMBERS, POISON

EXAMPLES = int(os.environ.get("CIO_SYNC_STATEFUL_EXAMPLES", "400"))

TestPipeline = PipelineMachine.TestCase
TestPipeline.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_a_repair_of_an_invalid_status_is_judged_on_the_status_it_replaced() -> None:
    """Found by the machine: a sign-up's topic pick subscribes; a contract-breaking status ("yes") is parked;
    a write of `false` (clock an hour behind) is an opt-out from the subscribed status the bad value never
    validly replaced, so `email_opt_out_at` is stamped (the oracle first judged it from no status at all)."""
    state = PipelineMachine()
    state.members_sign_up(kinds=["web", "web", "web"], settled=False)
    state.break_rule_inputs(breaker=2)
    for status in (False, True):
        state.raw_write(data=Draws(["email_subscription_status"], status), member=POISON, skew=-3600)
    state.teardown()
    assert state.table.items[POISON].get("email_opt_out_at") is not None


@pytest.mark.parametrize("breaker", [0, 1, 2])
@pytest.mark.parametrize("kind", ["deletion", "admin_mute"])
def test_a_legacy_unrelated_attribute_does_not_hold_back_a_model_write(breaker: int, kind: str) -> None:
    """Review 21: a 10-digit mobile or a legacy created_at refused the CLI's mute and deletion request (the
    model write validated the whole item), so the member was never muted; the machine let it pass."""
    state = PipelineMachine()
    state.members_sign_up(kinds=["web", "none", "none"], settled=True)
    state.break_other_attribute(member=MEMBERS[0], breaker=breaker)
    state.model_write(member=MEMBERS[0], data=Draws(), kind=kind)
    assert state.table.items[MEMBERS[0]].get("promotions_muted_at") is not None
    state.teardown()
