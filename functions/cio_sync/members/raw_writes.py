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

A model write (the member repository's) need not be guessed at: it names the rule inputs it set in
`model_write`, with the values its caller gave them (the image may hold what the rules made of them on a
stale item: a mute, a forced status), so its change is exactly those, and the rule outputs it decided on
the item it read, which may have lacked a pending decision, are decided again here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from cio_sync.members.contract import (
    InvalidMember,
    MemberItem,
    is_iso_timestamp,
    is_member_id,
    validate_fields,
)
from cio_sync.members.subscriptions import (
    EMAIL_OPT_IN_AT,
    EMAIL_OPT_OUT_AT,
    EMAIL_STATUS,
    EMAIL_TOPICS_FIELD,
    MUTED_AT,
    SMS_STATUS,
    SMS_TOPICS_FIELD,
    apply_subscription_rules,
    is_fresh_stamp,
    opt_out_in_order,
    opts_in_to_email,
    opts_out_of_email,
    stamp_if_due,
)

# Everything the rules read, and the part of it they may change.
RULE_INPUTS: Final = (EMAIL_STATUS, EMAIL_TOPICS_FIELD, SMS_STATUS, SMS_TOPICS_FIELD, MUTED_AT)
RULE_OUTPUTS: Final = (
    EMAIL_STATUS,
    EMAIL_TOPICS_FIELD,
    SMS_TOPICS_FIELD,
    MUTED_AT,
    EMAIL_OPT_IN_AT,
    EMAIL_OPT_OUT_AT,
)
_RULE_FIELDS: Final = frozenset(RULE_INPUTS) | frozenset(RULE_OUTPUTS)
_STAMPS: Final = (MUTED_AT, EMAIL_OPT_IN_AT, EMAIL_OPT_OUT_AT)
DELETION_REQUESTED: Final = "deletion_requested_at"
# Stamped by every model write: "<its updated_at>|<the rule inputs it set, comma-separated>".
MODEL_WRITE: Final = "model_write"
# What names one life's version of an item besides its rule inputs: a member deleted and signed up again
# under the same id can repeat `updated_at` and the inputs, never its previous life's `created_at` (nor,
# within a second, the marker of a model write on the old item), so no decision lands on the wrong life.
VERSION_FIELDS: Final = ("updated_at", "created_at", MODEL_WRITE)

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

    Built from `updated_at` (every write changes it) and the rule fields, inputs and outputs: a writer that
    forgets `updated_at` but changes a subscription still makes a new token, and one whose clock repeats
    an earlier `updated_at` with the same inputs is told apart by the stamps decided since (the state
    machine found such a removal taken for the sign-up's version); `created_at` tells a member's lives
    apart, so a decision kept for the previous one is never found for the next. No personal data goes in.
    """
    fields = {name: item.get(name) for name in sorted(_RULE_FIELDS)}
    version = [item.get("updated_at"), item.get("created_at")]
    material = json.dumps([*version, fields], sort_keys=True, default=str)
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def visible_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """What a write changed as its record shows it: new values, None for removed attributes."""
    return {name: new.get(name) for name in set(old) | set(new) if old.get(name) != new.get(name)}


def model_write_marker(updated_at: str, stated: Iterable[str]) -> str:
    """What a model write stamps: its own `updated_at` ties the marker to that write alone. When `stated`
    maps the names to the values its caller set, those go too (JSON): the item written holds the rules'
    decision on the item the model read, which the stream decides again from the caller's values."""
    names = sorted(set(stated) & set(RULE_INPUTS))
    marker = f"{updated_at}|{','.join(names)}"
    if isinstance(stated, Mapping):
        values = {name: stated[name] for name in names}
        marker += "|" + json.dumps(values, sort_keys=True, separators=(",", ":"))
    return marker


def stated_rule_inputs(
    item: Mapping[str, Any], old: Mapping[str, Any] | None = None
) -> frozenset[str] | None:
    """The rule inputs the write that made `item` (from `old`) set, when it was a model write; None for a
    raw write."""
    values = stated_values(item, old)
    return None if values is None else frozenset(values)


def stated_values(item: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The rule inputs a model write set, with its caller's values (the item's, for a marker without
    them); None for a raw write.

    Every model write stamps a marker of its own, so a write that leaves the marker as it was is not a
    model write, even when its writer's clock gives `updated_at` the marker's value (the import's mute
    stamps its own clock). A marker naming another `updated_at`, or one that does not parse or whose values
    break the contract, is ignored too.
    """
    marker = item.get(MODEL_WRITE)
    if not isinstance(marker, str) or (old is not None and old.get(MODEL_WRITE) == marker):
        return None
    stamped, *parts = marker.split("|", 2)
    stated = frozenset(name for name in (parts or [""])[0].split(",") if name)
    if not parts or stamped != item.get("updated_at") or not stated <= set(RULE_INPUTS):
        return None
    values = {name: item.get(name) for name in stated}
    if len(parts) == 2:
        try:
            given = json.loads(parts[1])
            if not isinstance(given, dict) or set(given) != stated:
                return None
            validate_fields(given, stated)
        except (ValueError, TypeError, InvalidMember):
            return None
        values.update(given)
    return values


@dataclass(frozen=True)
class Decision:
    """The item as the rules leave it after a write, and whether an unseen opt-out was assumed."""

    item: MemberItem
    assumed_opt_out: bool = False


def decide(
    before: Mapping[str, Any] | None,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    now: str,
    *,
    email_status_before: bool | None = None,
    assume_opt_out: bool = True,
) -> Decision:
    """The member item as the rules leave it after this write (see the module docstring).

    `before` is the previous write's decision (its rule outputs), or None when `old` already holds it.
    `email_status_before`: the valid email status a parked write replaced with one of the wrong type
    (rule_enforcement.carry_past_park), for the raw write that repairs it. `assume_opt_out=False` for a
    parked write's valid part: the unseen opt-out is guessed at the write repairing it, whose image shows it.
    """
    if old is None:
        return Decision(apply_subscription_rules(None, new, now))
    landed_on: MemberItem = {**old, **(before or {})}
    change = visible_change(old, new)
    stated = stated_values(new, old)
    if stated is not None:
        # What the model decided on the item it read is decided again here; what its caller set stands.
        change = {name: value for name, value in change.items() if name not in _RULE_FIELDS}
        change.update(stated)
    proposed: MemberItem = {**landed_on, **change}
    assumed = assume_opt_out and stated is None and _unseen_opt_out(landed_on, old, new, change)
    if assumed:
        proposed[EMAIL_STATUS] = False
    if DELETION_REQUESTED in change:
        # A deletion request unsubscribes from everything: its image's subscriptions are what it wrote.
        proposed.update({name: new.get(name) for name in (EMAIL_STATUS, SMS_STATUS)})
    decided = apply_subscription_rules(landed_on, proposed, now)
    if stated is not None:
        _keep_model_stamps(landed_on, old, new, decided, stated)
    else:
        if email_status_before is not None and landed_on.get(EMAIL_STATUS) is None:
            _stamp_as_before(
                email_status_before, landed_on=landed_on, proposed=proposed, new=new, decided=decided, now=now
            )
        opt_out_in_order(landed_on, decided, now)
    return Decision(decided, assumed)


def _stamp_as_before(
    status: bool,
    *,
    landed_on: Mapping[str, Any],
    proposed: Mapping[str, Any],
    new: Mapping[str, Any],
    decided: MemberItem,
    now: str,
) -> None:
    """A write repairing an email status of the wrong type is an opt-in or an opt-out against the valid
    status the broken one replaced, not against none (docs/pipeline.md): `false` over `"yes"` that replaced
    `true` is stamped as the opt-out it is, and `true` there is no new opt-in. Only the stamps change; the
    values stay what the write and the rules made them."""
    basis = {**landed_on, EMAIL_STATUS: status}
    if opts_out_of_email(basis, decided) and not opts_out_of_email(landed_on, decided):
        stamp_if_due(EMAIL_OPT_OUT_AT, True, basis, proposed, result=decided, now=now)
    if opts_in_to_email(landed_on, decided) and not opts_in_to_email(basis, decided):
        if proposed.get(EMAIL_OPT_IN_AT) is None:
            decided.pop(EMAIL_OPT_IN_AT, None)
        else:
            decided[EMAIL_OPT_IN_AT] = proposed[EMAIL_OPT_IN_AT]


def _keep_model_stamps(
    landed_on: Mapping[str, Any],
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    decided: MemberItem,
    stated: Mapping[str, Any],
) -> None:
    """Where the model stamped a mute, opt-in or opt-out and the rules stamp it again here, the model's time
    stands: the write happened then (the record's time is only its second), and re-checking it never
    moves a stamp (docs/member-contract.md). A stamp the model did not make is the record's time."""
    for name in _STAMPS:
        if decided.get(name) is None or decided.get(name) == landed_on.get(name):
            continue  # not stamped here
        if is_iso_timestamp(stated.get(name)) and stated[name] != landed_on.get(name):
            decided[name] = stated[name]  # its caller's own new time (an admin mute's), as the marker says
        elif is_fresh_stamp(name, old, new):
            decided[name] = new[name]


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
    """The rule outputs a decision carries. A value the contract refuses (a number in a stamp, put there by
    another writer) stays out: the next record's old image holds it anyway, and a kept decision stays
    JSON (a set or a Decimal in it failed the whole stream batch for a day)."""
    return {name: item.get(name) for name in RULE_OUTPUTS if _valid(item, name)}


def _valid(item: Mapping[str, Any], name: str) -> bool:
    try:
        validate_fields(item, [name])
    except InvalidMember:
        return False
    return True
