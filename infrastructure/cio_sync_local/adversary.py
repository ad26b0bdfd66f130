"""Adversarial writers for the soak and the tests: racing raw writes, and items that break the contract.

Bursts land several raw writes to one member while the stream function is held back (as under a
backlog), and keep an oracle: the subscription rules applied write by write, in write order. Poison
writes store what the member contract forbids (an id that is not a member id, wrongly typed attributes
the rules read); the stream must park each with its reason and let the records behind it flow on.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from cio_sync.members.contract import EMAIL_TOPICS, SMS_TOPICS, MemberItem, utc_now_iso
from cio_sync.members.subscriptions import apply_subscription_rules

T = TypeVar("T")
Choose = Callable[[Sequence[T]], T]

# What a raw writer sets: subscriptions, the mute, and attributes the rules do not read.
RAW_VALUES: Final[dict[str, list[Any]]] = {
    "email_subscription_status": [True, False],
    "email_subscription_topics": [[], ["news"], ["community", "clubs"], list(EMAIL_TOPICS)],
    "sms_status": ["active", "less", "pending", "stop", "undeliverable", "unknown", None],
    "sms_subscription_topics": [[], ["general"], list(SMS_TOPICS)],
    "promotions_muted_at": [None, "2026-11-20T08:00:00.000000Z"],
    "first_name": ["Ada", "Grace"],
    "last_authenticated_at": ["2026-11-25T09:00:00.000000Z", "2026-11-25T10:00:00.000000Z"],
}


def visible_write(
    raw: Mapping[str, Any], oracle: Mapping[str, Any], names: Sequence[str], choose: Choose[Any]
) -> dict[str, Any]:
    """A raw write the stream can see: every attribute it sets changes in the table.

    A write that sets an attribute to the value it already holds leaves no trace in the stream images, so
    no stream consumer can tell it from a write that did not touch the attribute (docs/pipeline.md,
    "Racing raw writes"). For the same reason, a write that lands while the rules are about to subscribe
    the member to email for a topic choice (table: false, rules: true) states the email status itself,
    unless it mutes the member.
    """
    chosen = list(names)
    pick_pending = (
        raw.get("email_subscription_status") is not True and oracle.get("email_subscription_status") is True
    )
    write: dict[str, Any] = {}
    for name in chosen:
        choices = [value for value in RAW_VALUES[name] if value != raw.get(name)]
        if name == "email_subscription_status" and pick_pending:
            choices = [True, False]  # False is unseen in the table; the rules read it as an unsubscribe
        if choices:
            write[name] = copy.deepcopy(choose(choices))
    mutes = write.get("promotions_muted_at") is not None
    if pick_pending and not mutes and "email_subscription_status" not in write:
        # The image cannot show whether this write restated `false`: the stream assumes it did (opt-out
        # wins), so the write states its email status, and the oracle sees the same history.
        write["email_subscription_status"] = copy.deepcopy(choose([True, False]))
    if pick_pending and mutes and write.get("email_subscription_status") is False:
        # A muting write's unseen `false` is not assumed (the member ends muted, so silent, either way):
        # the oracle must not see one either.
        del write["email_subscription_status"]
    return write


def apply_write(item: Mapping[str, Any], write: Mapping[str, Any]) -> MemberItem:
    """A raw UpdateItem: None removes an attribute (the mute: stores null)."""
    result = copy.deepcopy(dict(item))
    for name, value in write.items():
        if value is None and name != "promotions_muted_at":
            result.pop(name, None)
        else:
            result[name] = copy.deepcopy(value)
    return result


def sequential(item: Mapping[str, Any], write: Mapping[str, Any], now: str) -> MemberItem:
    """The oracle's step: the write lands on the item as the rules left it, then the rules run for it."""
    return apply_subscription_rules(item, apply_write(item, write), now)


@dataclass
class BurstMember:
    member_id: str
    oracle: MemberItem
    writes: int = 0


@dataclass
class Bursts:
    """Several raw writes to one member before the stream reads the first, with the oracle kept."""

    read: Callable[[str], Mapping[str, Any] | None]
    raw_update: Callable[[str, Mapping[str, Any]], None]
    hold_stream: Callable[[], Any]
    choose: Choose[Any]
    members: list[BurstMember] = field(default_factory=list)
    bursts: int = 0

    def add(self, member_id: str) -> None:
        item = self.read(member_id)
        if item is None:
            raise LookupError(f"burst member {member_id} does not exist")
        self.members.append(BurstMember(member_id, dict(item)))

    def burst(self, writes: int, fields: Callable[[], Sequence[str]]) -> None:
        member = self.choose(self.members)
        with self.hold_stream():
            for _ in range(writes):
                raw = self.read(member.member_id)
                if raw is None:
                    raise LookupError(f"burst member {member.member_id} disappeared")
                write = visible_write(raw, member.oracle, fields(), self.choose)
                if not write:
                    continue
                now = utc_now_iso()
                self.raw_update(member.member_id, {**write, "updated_at": now})
                member.oracle = sequential(member.oracle, {**write, "updated_at": now}, now)
                member.writes += 1
        self.bursts += 1

    def mismatches(self) -> list[str]:
        """Members whose final item is not the rules applied write by write (attribute names only).

        The mute and the consent stamps are compared as set or not: their times are the stream record's,
        which the soak cannot see.
        """
        problems: list[str] = []
        for member in self.members:
            final = self.read(member.member_id)
            if final is None:
                problems.append(f"{member.member_id}: disappeared")
                continue
            expected, actual = dict(member.oracle), dict(final)
            for item in (expected, actual):
                item.pop("updated_at", None)
                for stamp in ("promotions_muted_at", "email_opt_in_at", "email_opt_out_at"):
                    item[stamp] = item.get(stamp) is not None
            wrong = sorted(
                name for name in set(expected) | set(actual) if expected.get(name) != actual.get(name)
            )
            if wrong:
                problems.append(
                    f"{member.member_id}: differs from sequential application: {', '.join(wrong)}"
                )
        return problems


# Shapes that break the contract where the rules or the diff read (docs/member-contract.md).
POISON_ATTRIBUTES: Final[tuple[tuple[str, Any], ...]] = (
    ("sms_status", ["active"]),
    ("email_subscription_topics", 7),
    ("email_subscription_status", "yes"),
    ("promotions_muted_at", "yesterday"),
)


@dataclass
class Poison:
    """Writes items that break the contract: a legacy id, or a wrongly typed rule input on its own members."""

    put_raw: Callable[[Mapping[str, Any]], None]
    raw_update: Callable[[str, Mapping[str, Any]], None]
    choose: Choose[Any]
    members: list[str] = field(default_factory=list)
    legacy_ids: list[str] = field(default_factory=list)
    written: int = 0

    def write(self) -> None:
        if not self.members or self.choose([True, False]):
            legacy = f"legacy-{len(self.legacy_ids):04d}"
            self.legacy_ids.append(legacy)
            self.put_raw({"id": legacy, "email_subscription_status": True, "updated_at": utc_now_iso()})
        else:
            name, value = self.choose(POISON_ATTRIBUTES)
            self.raw_update(self.choose(self.members), {name: value, "updated_at": utc_now_iso()})
        self.written += 1

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self.members) | frozenset(self.legacy_ids)
