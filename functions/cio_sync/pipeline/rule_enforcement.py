"""Enforcing the subscription rules on one raw write, on top of the previous write's decision.

The decision is written back only while the item is still the version the record showed; otherwise it is
kept for the later record that moved the item (docs/pipeline.md, "Racing raw writes").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cio_sync.failures import TransientFailure
from cio_sync.members.raw_writes import (
    VERSION_FIELDS,
    RuleState,
    decide,
    decisions,
    rule_outputs,
    rule_state,
    state_token,
    visible_change,
)
from cio_sync.members.subscriptions import EMAIL_STATUS, SMS_STATUS, apply_subscription_rules
from cio_sync.observability import logger
from cio_sync.pipeline.record_budget import RecordOverBudget
from cio_sync.pipeline.stream_records import MemberChange, repaired

_STATUSES = (EMAIL_STATUS, SMS_STATUS)  # read as absent when broken (stream_records.repaired)


@dataclass(frozen=True)
class PendingDecision:
    """The rules' decision for one version of a member's item (named by `token`, see state_token).

    Kept when a later write moved the item before the decision could be written, so the later record
    is decided on top of it even when it comes in another batch or a retry. Ids and subscription flags
    only: no personal data.
    """

    member_id: str
    token: str
    outputs: RuleState
    # Past a parked write that gave `email_subscription_status` a value of the wrong type: the valid
    # status it replaced, which the repairing write is judged against (members/raw_writes.decide).
    email_status_before: bool | None = None


class RuleDecisionWriter(Protocol):
    def write_rule_decisions(
        self, member_id: str, expected: Mapping[str, Any], decided: Mapping[str, Any]
    ) -> bool:
        """Write `decided` if the item still holds `expected` (rule inputs, VERSION_FIELDS); else False."""
        ...


@dataclass(frozen=True)
class RulePlan:
    """The rules' decision on one record, before its write-back (`wanted`: the fields to write)."""

    decision: PendingDecision
    wanted: dict[str, Any]
    expected: dict[str, Any]
    assumed_opt_out: bool


@dataclass(frozen=True)
class Decided:
    """What enforcing the rules on one record did; `applied` when the table holds the decision."""

    decision: PendingDecision
    applied: bool
    wrote: bool = False
    assumed_opt_out: bool = False
    # A new item's decision is kept even when applied: an item restored verbatim (same `updated_at`) must
    # never pick up a decision its previous life left behind for the same version.
    keep: bool = False
    refused: str | None = None  # the table refused the write-back (its error's type): no retry can write it


class DecisionNotWritten(Exception):
    """The rules' decision was made but the table refused it: the record is parked, the decision carried."""

    def __init__(self, refused: str) -> None:
        super().__init__(f"its rules' decision could not be written ({refused})")


class DecisionsNotKept(Exception):
    """The pending-decision store could not hold these decisions (a value JSON cannot encode): their
    records are parked with this reason, the batch goes on (docs/pipeline.md)."""

    def __init__(self, refused: Sequence[PendingDecision]) -> None:
        super().__init__("a value the store cannot encode")
        self.refused = list(refused)


def plan_rules(change: MemberChange, before: PendingDecision | None) -> RulePlan | None:
    """Decide this write on top of the previous decision (no I/O: the record's budget bounds it).

    `before` is used only when it belongs to this record's old image. None after a REMOVE.
    """
    if change.new is None:
        return None
    old = change.old
    carried = None
    status_before = None
    if before is not None and old is not None and before.token == state_token(old):
        carried, status_before = before.outputs, before.email_status_before
    outcome = decide(carried, old, change.new, change.now, email_status_before=status_before)
    decided = outcome.item
    if outcome.assumed_opt_out:
        logger.info(
            "an unseen email opt-out was assumed over a pending topic pick",
            extra={"member_id": change.member_id},
        )
    decision = PendingDecision(change.member_id, state_token(change.new), rule_outputs(decided))
    expected = {**rule_state(change.new), **{name: change.new.get(name) for name in VERSION_FIELDS}}
    return RulePlan(decision, decisions(decided, change.new), expected, outcome.assumed_opt_out)


def apply_rules(
    change: MemberChange, plan: RulePlan, writer: RuleDecisionWriter, *, moved_on: bool = False
) -> Decided:
    """Write the plan back if the item is still the version the record showed.

    `moved_on`: the batch holds a later record of the member, so the item is not this version any more even
    if it looks the same (a write restoring it): that record carries the decision instead.
    """
    member_id, wanted, assumed = change.member_id, plan.wanted, plan.assumed_opt_out
    if not wanted:
        return Decided(plan.decision, applied=True, assumed_opt_out=assumed)
    if moved_on:
        return Decided(plan.decision, applied=False, assumed_opt_out=assumed)
    try:
        written = writer.write_rule_decisions(member_id, plan.expected, wanted)
    except (TransientFailure, RecordOverBudget):
        raise
    except Exception as error:
        # Refused (an item the decision pushes over 400 KB): kept, so the next write, in this batch or a
        # later one, is decided on top of it and writes it (docs/pipeline.md).
        logger.warning("the table refused the rules' write-back", extra={"member_id": member_id})
        return Decided(plan.decision, applied=False, assumed_opt_out=assumed, refused=type(error).__name__)
    if written:
        logger.info(
            "subscription rules enforced on a raw write",
            extra={"member_id": member_id, "fields": sorted(wanted)},
        )
        # Kept: the write-back's own record is decided on top of it and stays a fixpoint (read alone, an
        # unsubscribe written back, or an opt-in whose stamp did not move, looks like a writer's change),
        # and the store's entry for a version is always the latest decision made for it.
        return Decided(plan.decision, applied=True, wrote=True, assumed_opt_out=assumed, keep=True)
    # A later write (or this record's own earlier delivery) moved the item: the next record carries it.
    logger.info(
        "the item moved on; the next record carries this decision",
        extra={"member_id": member_id, "fields": sorted(wanted)},
    )
    return Decided(plan.decision, applied=False, assumed_opt_out=assumed)


def carry_past_park(change: MemberChange, before: PendingDecision | None) -> PendingDecision | None:
    """A parked record's write happened all the same: its valid part is ruled on top of the decision owed
    to the write before it (a broken field stands as its valid value before), and that decision is carried
    to the record that repairs the item (docs/pipeline.md). An email status of the wrong type carries the
    valid one it replaced (`email_status_before`). Tokens name the item as the rules can read it
    (`repaired`), as a repairing record's old image is."""
    if change.old is None or change.new is None:
        return None
    old = repaired(change.old)
    if before is not None and before.token != state_token(old):
        before = None
    status = _email_status_replaced(change.old, change.new, before)
    read_as = repaired(change.new)
    landed_on = {**old, **(before.outputs if before is not None else {})}
    broken = [name for name in _STATUSES if change.new.get(name) is not None and name not in read_as]
    # A broken field stands as its valid value before: a broken email status as the one it replaced (the
    # owed decision reads it as absent once broken, so a second parked write would end a subscription).
    before_break = {} if status is None else {EMAIL_STATUS: status}
    valid = {**read_as, **{name: before_break.get(name, landed_on.get(name)) for name in broken}}
    try:
        decided = decide(
            None if before is None else before.outputs,
            old,
            valid,
            change.now,
            email_status_before=None if before is None else before.email_status_before,
            assume_opt_out=False,
        ).item
    except Exception:  # whatever parked it also breaks the full rules: the plain ones, on what it changed
        logger.warning("a parked write could not be ruled", extra={"member_id": change.member_id})
        decided = _ruled_plainly(landed_on, {**landed_on, **visible_change(old, valid)}, change.now)
    outputs = rule_outputs(decided)
    if status is not None:
        # The repair reads the broken status as absent and is judged against the status the valid part
        # left (a topic pick beside the broken status subscribes: a repair to false is then an opt-out).
        ruled = decided.get(EMAIL_STATUS)
        status = ruled if isinstance(ruled, bool) else status
        outputs[EMAIL_STATUS] = None
    return PendingDecision(change.member_id, state_token(read_as), outputs, status)


def _ruled_plainly(landed_on: Mapping[str, Any], proposed: Mapping[str, Any], now: str) -> dict[str, Any]:
    """The subscription rules alone on the write (an opt-out still stamped), else the write as it is."""
    try:
        return apply_subscription_rules(landed_on, proposed, now)
    except Exception:
        return dict(proposed)


def _email_status_replaced(
    old: Mapping[str, Any], new: Mapping[str, Any], before: PendingDecision | None
) -> bool | None:
    """The valid email status this parked write's broken one replaced (None: its status is not broken)."""
    if isinstance(new.get(EMAIL_STATUS), bool) or new.get(EMAIL_STATUS) is None:
        return None
    if before is not None and before.email_status_before is not None:
        return before.email_status_before  # broken already: the status before the first break
    owed = before.outputs.get(EMAIL_STATUS) if before is not None else None
    status = owed if isinstance(owed, bool) else old.get(EMAIL_STATUS)
    return status if isinstance(status, bool) else None
