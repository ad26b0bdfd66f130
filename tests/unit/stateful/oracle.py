"""The oracle: what docs/member-contract.md and docs/pipeline.md say the member and its profile must be.

Written from those documents alone. It imports nothing from `cio_sync.members`, `cio_sync.sync` or
`cio_sync.pipeline` (tests/unit/stateful/test_mutations.py checks), so a bug in the product's rules cannot
agree with itself here. The payload and the checker are `cio_sync_local.invariant`'s, which is written
from the same document and imports no product code either.

Each write is applied to the item as the rules left the previous write (Northstar's write-by-write
semantics), then the rules run for that write.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from cio_sync_local.invariant import eligible, expected_attributes

Item = dict[str, Any]

# "Subscription rules", definitions.
SMS_SUBSCRIBED: Final = frozenset({"active", "less", "pending"})
SMS_UNSUBSCRIBED: Final = frozenset({"stop", "undeliverable"})
DEFAULT_SMS_TOPICS: Final = ["general", "voting"]
EMAIL_TOPIC_VALUES: Final = frozenset({"community", "lifestyle", "news", "scholarships", "clubs"})
SMS_TOPIC_VALUES: Final = frozenset({"general", "voting"})
SMS_STATUS_VALUES: Final = frozenset({*SMS_SUBSCRIBED, *SMS_UNSUBSCRIBED, "unknown"})
MUTED: Final = "promotions_muted_at"
OPT_IN_AT: Final = "email_opt_in_at"
OPT_OUT_AT: Final = "email_opt_out_at"
LAST_VALID: Final = "_last_valid"  # the oracle's own note on a contract-breaking item, never compared
STAMPS: Final = (MUTED, OPT_IN_AT, OPT_OUT_AT)
# "Attributes": the rules' own inputs (a record whose images break these is parked by the stream).
RULE_INPUTS: Final = (
    "email_subscription_status",
    "email_subscription_topics",
    "sms_status",
    "sms_subscription_topics",
    MUTED,
)


def _topics(item: Mapping[str, Any], name: str) -> list[str]:
    return list(item.get(name) or [])


def apply_rules(old: Mapping[str, Any] | None, new: Mapping[str, Any], now: str) -> Item:
    """The table of "Subscription rules", row by row."""
    item: Item = copy.deepcopy(dict(new))
    item.pop(LAST_VALID, None)
    if old is None:  # "On creation": topics imply the status, SMS gets default topics; never mutes.
        if _topics(item, "email_subscription_topics"):
            item["email_subscription_status"] = True
        if item.get("sms_status") in SMS_SUBSCRIBED and not _topics(item, "sms_subscription_topics"):
            item["sms_subscription_topics"] = list(DEFAULT_SMS_TOPICS)
        return _opt_out(old, new, _opt_in(old, new, item, now), now)
    picks = set(_topics(old, "email_subscription_topics")) != set(_topics(new, "email_subscription_topics"))
    email_in = picks and bool(_topics(new, "email_subscription_topics"))
    email_out = (
        new.get("email_subscription_status") is False and old.get("email_subscription_status") is not False
    )
    sms_changed = new.get("sms_status") != old.get("sms_status")
    sms_in = sms_changed and new.get("sms_status") in SMS_SUBSCRIBED
    sms_out = sms_changed and new.get("sms_status") in SMS_UNSUBSCRIBED
    if email_out:
        item["email_subscription_topics"] = []  # "this wins over new topics"
    elif email_in:
        item["email_subscription_status"] = True
    if sms_in and not _topics(new, "sms_subscription_topics"):
        item["sms_subscription_topics"] = list(DEFAULT_SMS_TOPICS)
    if sms_out:
        item["sms_subscription_topics"] = []
    if item.get(MUTED) is not None and ((email_in and not email_out) or sms_in):
        item[MUTED] = None
    email_now = item.get("email_subscription_status") is True
    sms_now = item.get("sms_status") in SMS_SUBSCRIBED
    if (sms_out and email_out) or (sms_out and not email_now) or (email_out and not sms_now):
        fresh = new.get(MUTED) is not None and new.get(MUTED) != old.get(MUTED)
        item[MUTED] = new[MUTED] if fresh else now
    return _opt_out(old, new, _opt_in(old, new, item, now), now)


def _opt_in(old: Mapping[str, Any] | None, new: Mapping[str, Any], item: Item, now: str) -> Item:
    """The row "opt-in": ends email-subscribed and was not, or gains an email topic: `email_opt_in_at`."""
    if item.get("email_subscription_status") is not True:
        return item
    was = old is not None and old.get("email_subscription_status") is True
    gained = set(_topics(item, "email_subscription_topics")) - set(
        _topics(old or {}, "email_subscription_topics")
    )
    if was and not gained:
        return item
    fresh = new.get(OPT_IN_AT) is not None and new.get(OPT_IN_AT) != (old or {}).get(OPT_IN_AT)
    item[OPT_IN_AT] = new[OPT_IN_AT] if fresh else now
    return item


def _opt_out(old: Mapping[str, Any] | None, new: Mapping[str, Any], item: Item, now: str) -> Item:
    """The row "opt-out": a subscribed member's email ends, or a topic of theirs goes: `email_opt_out_at`."""
    if old is None or old.get("email_subscription_status") is not True:
        return item
    ends = item.get("email_subscription_status") is not True
    dropped = set(_topics(old, "email_subscription_topics")) - set(_topics(item, "email_subscription_topics"))
    if not ends and not dropped:
        return item
    fresh = new.get(OPT_OUT_AT) is not None and new.get(OPT_OUT_AT) != old.get(OPT_OUT_AT)
    item[OPT_OUT_AT] = new[OPT_OUT_AT] if fresh else now
    return item


def update(item: Mapping[str, Any], changes: Mapping[str, Any]) -> Item:
    """An UpdateItem of `changes`: None removes an attribute, except the mute, which stores null."""
    result = copy.deepcopy(dict(item))
    for name, value in changes.items():
        if value is None and name != MUTED:
            result.pop(name, None)
        else:
            result[name] = copy.deepcopy(value)
    return result


def written(item: Mapping[str, Any] | None, changes: Mapping[str, Any], now: str) -> Item | None:
    """One write to an existing member, then the rules; a write to no member leaves no member."""
    if item is None:
        return None
    new = update(item, changes)
    if not rule_inputs_valid(new):
        # The stream parks such a record but rules its valid part, a broken status read as the valid one
        # it replaced, and carries that to the repair (docs/pipeline.md): the ruled values stand wherever
        # the write left a valid one; the broken ones stay as written until a repair.
        before = valid_part(item)
        ruled = apply_rules(before, valid_part({**new, LAST_VALID: before}), now)
        for name in (*RULED, *STAMPS):
            if _valid_value(name, new.get(name)):
                new = update(new, {name: ruled.get(name)})
        new[LAST_VALID] = {name: ruled[name] for name in STATUS_NAMES if name in ruled}
        return new
    new.pop(LAST_VALID, None)
    return apply_rules(valid_part(item), new, now)


def model_written(item: Mapping[str, Any] | None, changes: Mapping[str, Any], now: str) -> Item | None:
    """A model write (docs/member-contract.md, `MemberAdmin`): read, apply the rules, then the contract. So
    an unsubscribe is written, ruled, over a broken topic list it clears; one that leaves a broken rule
    input is refused (nothing written) and judged as `written` would park it."""
    if item is None:
        return None
    ruled = apply_rules(valid_part(item), update(item, changes), now)
    return ruled if rule_inputs_valid(ruled) else written(item, changes, now)


def valid_part(item: Mapping[str, Any]) -> Item:
    """docs/pipeline.md: a write that repairs an item is judged against what its old image validly said
    (valid topics, any mute; an invalid status or SMS status is absent)."""
    result = copy.deepcopy(dict(item))
    before = result.pop(LAST_VALID, {})
    for name in ("email_subscription_status", "sms_status"):
        if not _valid_status(name, result.get(name)) and name in before:
            result[name] = before[name]  # an invalid value written over a valid one: the valid one stands
    for name, allowed in (
        ("email_subscription_topics", EMAIL_TOPIC_VALUES),
        ("sms_subscription_topics", SMS_TOPIC_VALUES),
    ):
        if not _topic_list(result.get(name), allowed):
            value = result.pop(name)
            if isinstance(value, list):
                result[name] = list(dict.fromkeys(t for t in value if isinstance(t, str) and t in allowed))
    if not (
        result.get("email_subscription_status") is None
        or isinstance(result["email_subscription_status"], bool)
    ):
        result.pop("email_subscription_status")
    sms = result.get("sms_status")
    if sms is not None and not (isinstance(sms, str) and sms in SMS_STATUS_VALUES):
        result.pop("sms_status")
    return result


RULED: Final = ("email_subscription_status", "email_subscription_topics", "sms_subscription_topics")
STATUS_NAMES: Final = ("email_subscription_status", "sms_status")


def _valid_value(name: str, value: Any) -> bool:
    if name in STATUS_NAMES:
        return _valid_status(name, value)
    if name == "email_subscription_topics":
        return _topic_list(value, EMAIL_TOPIC_VALUES)
    if name == "sms_subscription_topics":
        return _topic_list(value, SMS_TOPIC_VALUES)
    return value is None or isinstance(value, str)


def _valid_status(name: str, value: Any) -> bool:
    if name == "email_subscription_status":
        return value is None or isinstance(value, bool)
    return value is None or (isinstance(value, str) and value in SMS_STATUS_VALUES)


def deletion_request(item: Mapping[str, Any], at: str, now: str) -> Item:
    """ "Write builders": both channels off, stamped `at` (the writer's time), and always muted (at `at`)."""
    changes = {
        "email_subscription_status": False,
        "email_subscription_topics": [],
        "sms_status": "stop",
        "sms_subscription_topics": [],
        "deletion_requested_at": at,
    }
    result = apply_rules(valid_part(item), update(item, changes), now)
    result[MUTED] = at
    return result


def admin_mute(item: Mapping[str, Any], at: str, now: str) -> Item:
    return apply_rules(valid_part(item), update(item, {MUTED: at}), now)


def keep_writer_stamps(
    before: Mapping[str, Any] | None, after: Item | None, writer_stamps: Mapping[str, Any]
) -> Item | None:
    """ "Kept if the write already sets a new one": a mute, opt-in or opt-out the rules make on this write
    is the time the writer stamped for it, if it stamped one (a model write applies the rules itself, with
    its own clock); else the rules' `now`, the record's time."""
    if after is None:
        return after
    for name, value in writer_stamps.items():
        if after.get(name) is not None and after.get(name) != (before or {}).get(name):
            after[name] = value
    return after


def rule_inputs_valid(item: Mapping[str, Any] | None) -> bool:
    """The attributes the rules read hold what the contract allows (else the stream parks the record)."""
    if item is None:
        return True
    status = item.get("email_subscription_status")
    sms = item.get("sms_status")
    muted = item.get(MUTED)
    return (
        (status is None or isinstance(status, bool))
        and (sms is None or (isinstance(sms, str) and sms in SMS_STATUS_VALUES))
        and _topic_list(item.get("email_subscription_topics"), EMAIL_TOPIC_VALUES)
        and _topic_list(item.get("sms_subscription_topics"), SMS_TOPIC_VALUES)
        and (muted is None or isinstance(muted, str))
    )


def _topic_list(value: object, allowed: frozenset[str]) -> bool:
    if value is None:
        return True
    return (
        isinstance(value, list)
        and all(isinstance(topic, str) and topic in allowed for topic in value)
        and len(set(value)) == len(value)
    )


def payload(item: Mapping[str, Any]) -> dict[str, Any]:
    """ "Profile payload", as Customer.io holds it (nulls removed)."""
    return expected_attributes({name: value for name, value in item.items() if name != LAST_VALID})


def is_eligible(item: Mapping[str, Any] | None) -> bool:
    return eligible(item)


def password_email_due(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> bool:
    """ "Change diff": a modify that changed `password_updated_at` of a member with an email."""
    if old is None or new is None or not new.get("email"):
        return False
    return new.get("password_updated_at") is not None and new.get("password_updated_at") != old.get(
        "password_updated_at"
    )
