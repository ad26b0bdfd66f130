"""Northstar's subscription rules for writes that skipped them, applied one stream record at a time.

Other services write the member table directly; the stream function applies the rules afterwards and
writes their decision back. Several raw writes to one member may land before the first record is
handled, so a record is decided against the item *as the rules left it after the previous write* (its
`before`), not against its own old image, which may still lack that earlier decision:

    the write's change   = what its record shows changed (old image -> new image)
    the item it lands on = old image with the previous decision's rule fields (`before`)
    the decision         = rules(item it lands on, item it lands on + the write's change)

That is the rules applied write by write, in write order, as Northstar did in-process. One thing a
stream image cannot show is a write that sets an attribute to the value it already held. The rules can
only be wrong about it in one direction that matters, and there we choose the side that never messages
someone who may have opted out: while the rules were about to subscribe a member to email for a topic
choice, a later write whose image still shows `email_subscription_status: false` (and that does not mute
the member itself) is taken to have unsubscribed them (docs/pipeline.md, "Racing raw writes").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from cio_sync.members.contract import InvalidMember, MemberItem, is_member_id, validate_fields
from cio_sync.members.subscriptions import (
    EMAIL_OPT_IN_AT,
    EMAIL_STATUS,
    EMAIL_TOPICS_FIELD,
    MUTED_AT,
    SMS_STATUS,
    SMS_TOPICS_FIELD,
    apply_subscription_rules,
)

# Everything the rules read, and the part of it they may change.
RULE_INPUTS: Final = (EMAIL_STATUS, EMAIL_TOPICS_FIELD, SMS_STATUS, SMS_TOPICS_FIELD, MUTED_AT)
RULE_OUTPUTS: Final = (EMAIL_STATUS, EMAIL_TOPICS_FIELD, SMS_TOPICS_FIELD, MUTED_AT, EMAIL_OPT_IN_AT)
DELETION_REQUESTED: Final = "deletion_requested_at"

RuleState = dict[str, Any]


def check_rule_inputs(member_id: object, *images: Mapping[str, Any] | None) -> None:
    """Raise InvalidMember when the id or an attribute the rules read breaks the contract.

    Only the rules' own inputs are checked: a record whose other attributes break the contract (say a
    legacy `mobile` without `+`) still gets its mute or resubscribe.
    """
    if not is_member_id(member_id):
        raise InvalidMember("id", "must be 24 lowercase hexadecimal characters")
    for image in images:
        if image is not None:
            validate_fields(image, RULE_INPUTS)


def rule_state(item: Mapping[str, Any]) -> RuleState:
    """The rule inputs of an item, absent ones as None."""
    return {name: item.get(name) for name in RULE_INPUTS}


def state_token(item: Mapping[str, Any]) -> str:
    """Names one version of an item: the next record's old image is this record's new image.

    Built from `updated_at` (every write changes it) and the rule inputs (a writer that forgets
    `updated_at` but changes a subscription still makes a new token). No personal data goes in.
    """
    material = json.dumps([item.get("updated_at"), rule_state(item)], sort_keys=True, default=str)
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def visible_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """What a write changed as its record shows it: new values, None for removed attributes."""
    return {name: new.get(name) for name in set(old) | set(new) if old.get(name) != new.get(name)}


@dataclass(frozen=True)
class Decision:
    """The item as the rules leave it after a write, and whether an unseen opt-out was assumed."""

    item: MemberItem
    assumed_opt_out: bool = False


def decide(
    before: Mapping[str, Any] | None, old: Mapping[str, Any] | None, new: Mapping[str, Any], now: str
) -> Decision:
    """The member item as the rules leave it after this write (see the module docstring).

    `before` is the previous write's decision (its rule outputs), or None when `old` already holds it.
    """
    if old is None:
        return Decision(apply_subscription_rules(None, new, now))
    landed_on: MemberItem = {**old, **(before or {})}
    change = visible_change(old, new)
    proposed: MemberItem = {**landed_on, **change}
    assumed = _unseen_opt_out(landed_on, old, new, change)
    if assumed:
        proposed[EMAIL_STATUS] = False
    if DELETION_REQUESTED in change:
        # A deletion request unsubscribes from everything: its image's subscriptions are what it wrote.
        proposed.update({name: new.get(name) for name in (EMAIL_STATUS, SMS_STATUS)})
    return Decision(apply_subscription_rules(landed_on, proposed, now), assumed)


def _unseen_opt_out(
    landed_on: Mapping[str, Any], old: Mapping[str, Any], new: Mapping[str, Any], change: Mapping[str, Any]
) -> bool:
    """The previous decision subscribed to email for a topic choice; this write's image still shows
    `false` and its change does not say: it may have written `false` again (an unsubscribe the image cannot
    show). Opt-out wins, unless the write mutes the member itself (then no message goes out either way)."""
    return (
        landed_on.get(EMAIL_STATUS) is True
        and old.get(EMAIL_STATUS) is not True
        and new.get(EMAIL_STATUS) is False
        and EMAIL_STATUS not in change
        and change.get(MUTED_AT) is None
    )


def decisions(decided: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The rule outputs the table must change for the item to match the decision."""
    return {name: decided.get(name) for name in RULE_OUTPUTS if decided.get(name) != new.get(name)}


def rule_outputs(item: Mapping[str, Any]) -> RuleState:
    return {name: item.get(name) for name in RULE_OUTPUTS}
