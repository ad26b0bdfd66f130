"""The consent function's flow: a reporting event from Customer.io becomes a write to the member table.

Writes go through the table like any other writer's, so the stream function's rules do the rest (an
email unsubscribe clears topics, and a member left with no channel is muted and loses the profile).
Each event is decided on the member as read, and written only while `updated_at` still holds what was
read: a redelivered event finds its change made and writes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from cio_sync.customerio.reporting import ReportingEvent, event_from_message
from cio_sync.failures import TransientFailure
from cio_sync.members.contract import InvalidMember, is_member_id, parse_iso, to_iso
from cio_sync.pipeline.messages import InboundMessage
from cio_sync.pipeline.redelivery import DeadLetters

STATUS = "email_subscription_status"
TOPICS = "email_subscription_topics"
BOUNCED_AT = "email_bounced_at"
SPAM_REPORTED_AT = "email_spam_reported_at"
# When the rules last recorded an email opt-in / opt-out (the stream function writes them): events are
# ordered against these, never applied on their type alone.
OPT_IN_AT = "email_opt_in_at"
OPT_OUT_AT = "email_opt_out_at"
# When Customer.io reported the member's last email opt-out: the consent function stamps it and
# `email_opt_out_at` with the event's own time, so equal stamps say the last opt-out was the person's own,
# made in Customer.io (no opt-in identify of ours can echo after it: it is stamped older).
CIO_OPT_OUT_AT = "email_cio_opt_out_at"
# A member who requested deletion stays muted until they subscribe again (docs/member-contract.md).
MUTED_AT = "promotions_muted_at"
# How long after an opt-out in the table an opt-in from Customer.io may still be the echo of an identify
# the track function built before it (its read, one request, Customer.io's processing): such an opt-in is
# dropped; the person can opt in again after it.
ECHO_WINDOW = timedelta(minutes=15)
# What the consent function reads of a member (and nothing else).
READ_ATTRIBUTES = (
    "id",
    "updated_at",
    "deletion_requested_at",
    MUTED_AT,
    STATUS,
    TOPICS,
    OPT_IN_AT,
    OPT_OUT_AT,
    CIO_OPT_OUT_AT,
    BOUNCED_AT,
    SPAM_REPORTED_AT,
)
WRITE_ATTEMPTS = 3
# Why an event wrote nothing (each a metric of the consent handler).
DROP_REASONS = (
    "echo",
    "stale",
    "no_topic_map",
    "unchanged",
    "placeholder",
    "not_a_member",
    "deleted",
    "ignored",
)


class MemberConsent(Protocol):
    def read(self, member_id: str) -> Mapping[str, Any] | None:
        """The member's READ_ATTRIBUTES (consistent read), None when there is no such member."""
        ...

    def write(self, member_id: str, updated_at: str | None, changes: Mapping[str, Any]) -> bool:
        """Write `changes` (stamping a new `updated_at`) while the member exists and `updated_at` still
        holds the value read; False when it does not."""
        ...


class ConsentPolicy(NamedTuple):
    topic_map: Mapping[str, str]  # topic_<n> -> our topic name
    bounce_unsubscribes: bool  # BouncePolicy `unsubscribe`; `record` only notes the bounce
    quarantine: tuple[int, int] | None  # [start, end) in unix seconds: events received then are parked
    placeholder_id: str


class ConsentOutcome(NamedTuple):
    applied: int
    dropped: Counter[str]  # reason -> count
    quarantined: int
    parked: int


def process_consent_batch(
    messages: Sequence[InboundMessage],
    *,
    members: MemberConsent,
    dead_letters: DeadLetters,
    quarantine: DeadLetters,
    policy: ConsentPolicy,
) -> tuple[ConsentOutcome, list[str]]:
    """Each message on its own; the ids of those that failed (FIFO: every later one of the same group too,
    so one member's trouble holds up only its own lane)."""
    applied, quarantined, parked, dropped = 0, 0, 0, Counter[str]()
    failed: list[str] = []
    failed_groups: set[str] = set()
    for message in messages:
        if message.group_id in failed_groups:
            failed.append(message.message_id)
            continue
        try:
            event = event_from_message(message.body)
        except ValueError:
            dead_letters.dead_letter(message.body, "not a queued reporting event")
            parked += 1
            continue
        if quarantined_by(policy, event):
            quarantine.dead_letter(message.body, "received in the quarantine window")
            quarantined += 1
            continue
        try:
            result = apply_event(event, members, policy)
        except TransientFailure:
            failed.append(message.message_id)
            failed_groups.add(message.group_id)
            continue
        except InvalidMember as invalid:  # the stored item breaks the contract (a raw writer's legacy topic)
            dead_letters.dead_letter(message.body, f"member breaks the contract: {invalid}")
            parked += 1
            continue
        if result == "applied":
            applied += 1
        else:
            dropped[result] += 1
    return ConsentOutcome(applied, dropped, quarantined, parked), failed


def quarantined_by(policy: ConsentPolicy, event: ReportingEvent) -> bool:
    """Received in the window, and not already sent back from the quarantine by an operator."""
    window = policy.quarantine
    return window is not None and not event.replayed and window[0] <= event.received_at < window[1]


def apply_event(event: ReportingEvent, members: MemberConsent, policy: ConsentPolicy) -> str:
    """ "applied", or why nothing was written. Raises TransientFailure when the table keeps moving."""
    refused = _not_for_a_member(event, policy)
    if refused:
        return refused
    for _ in range(WRITE_ATTEMPTS):
        member = members.read(event.customer_id)
        if member is None:
            return "not_a_member"
        if erased(member):
            return "deleted"
        changes = decide(event, member, policy)
        if isinstance(changes, str):
            return changes
        written = {**changes, **opt_out_stamps(event, member, changes)}
        if members.write(event.customer_id, member.get("updated_at"), written):
            return "applied"
    raise TransientFailure("member kept changing while a consent event was applied")


def erased(member: Mapping[str, Any]) -> bool:
    """Requested deletion and not subscribed since: a member who signs up again is muted no longer, and
    their later opt-outs in Customer.io must reach the table (the stamp itself stays: it is history)."""
    return bool(member.get("deletion_requested_at")) and member.get(MUTED_AT) is not None


def _not_for_a_member(event: ReportingEvent, policy: ConsentPolicy) -> str | None:
    if not event.handled:
        return "ignored"
    if event.customer_id == policy.placeholder_id:
        return "placeholder"
    if not is_member_id(event.customer_id):
        return "not_a_member"
    return None


def decide(event: ReportingEvent, member: Mapping[str, Any], policy: ConsentPolicy) -> dict[str, Any] | str:
    """The attributes to write for this event, or why none are (a DROP_REASONS entry).

    Ordered by time against the table's own consent stamps (docs/member-contract.md, "Consent in
    Customer.io"): an opt-out applies unless it is older than the member's last opt-in; an opt-in applies
    only when it is later than the last opt-in and later than ECHO_WINDOW past the last opt-out (an
    opt-in identify read before that opt-out can reach Customer.io, and echo back, just after it).
    When in doubt, the opt-out wins.
    """
    at = datetime.fromtimestamp(event.timestamp, UTC)
    kind = (event.object_type, event.metric)
    changes: dict[str, Any] = {}
    ends = kind in {("customer", "unsubscribed"), ("email", "unsubscribed"), ("email", "spammed")}
    if ends or (kind == ("email", "bounced") and policy.bounce_unsubscribes):
        changes[STATUS] = False
    if kind == ("email", "spammed") and not _on_or_after(member.get(SPAM_REPORTED_AT), at):
        changes[SPAM_REPORTED_AT] = to_iso(at)
    if kind == ("email", "bounced") and not _on_or_after(member.get(BOUNCED_AT), at):
        changes[BOUNCED_AT] = to_iso(at)
    stale = STATUS in changes and member.get(STATUS) is not False and not opt_out_applies(member, event)
    if stale:
        del changes[STATUS]  # older than the member's last opt-in in the table: the table is newer
    if kind == ("customer", "subscribed"):
        if member.get(STATUS) is True:
            return "echo"
        refused = opt_in_refused(member, at)
        if refused:
            return refused
        changes[STATUS] = True
    if kind == ("customer", "cio_subscription_preferences_changed"):
        return _preferences(event, member, policy, at)
    changed = {name: value for name, value in changes.items() if member.get(name) != value}
    return changed or ("stale" if stale else "unchanged")


def _preferences(
    event: ReportingEvent, member: Mapping[str, Any], policy: ConsentPolicy, at: datetime
) -> dict[str, Any] | str:
    """Only the mapped topics move (others are not Customer.io's to change); removals are opt-outs and
    additions opt-ins, each under its own time rule."""
    if not policy.topic_map:
        return "no_topic_map"
    stored = list(member.get(TOPICS) or [])
    states = {
        policy.topic_map[name]: on for name, on in (event.topics or {}).items() if name in policy.topic_map
    }
    removed = {topic for topic, on in states.items() if not on and topic in stored}
    added = {topic for topic, on in states.items() if on and topic not in stored}
    refused: str | None = None
    if removed and not opt_out_applies(member, event):
        removed, refused = set(), "stale"
    if added:
        added_refused = opt_in_refused(member, at)
        if added_refused:
            added, refused = set(), added_refused
    if not removed and not added:
        return refused or "unchanged"
    return {TOPICS: sorted((set(stored) - removed) | added)}


def opt_out_stamps(
    event: ReportingEvent, member: Mapping[str, Any], changes: Mapping[str, Any]
) -> dict[str, str]:
    """For changes that opt out: the person's own time, written beside them (the stream's rules keep a stamp
    the write carries), not the time a backlog delivered it; none when the table opted out later."""
    at = datetime.fromtimestamp(event.timestamp, UTC)
    dropped = set(member.get(TOPICS) or []) - set(changes.get(TOPICS, member.get(TOPICS)) or [])
    if (changes.get(STATUS) is not False and not dropped) or _on_or_after(member.get(OPT_OUT_AT), at):
        return {}
    return {OPT_OUT_AT: to_iso(at), CIO_OPT_OUT_AT: to_iso(at)}


def opt_out_applies(member: Mapping[str, Any], event: ReportingEvent) -> bool:
    """Unless the event's second ended before the table's last opt-in (a tie goes to the opt-out).

    An opt-in stamped after the event was received cannot be ordered against it (a writer's clock may run
    ahead): the opt-out wins, or the stale verdict would let the next sync undo it in Customer.io; unless
    the table already holds an opt-out no earlier than this one and an opt-in after that (a redelivery).
    """
    opted_in, opted_out = _stamp(member.get(OPT_IN_AT)), _stamp(member.get(OPT_OUT_AT))
    at = datetime.fromtimestamp(event.timestamp, UTC)
    if opted_in is None:
        return True
    if opted_out is not None and at <= opted_out < opted_in:
        return False
    if event.received_at and opted_in > datetime.fromtimestamp(event.received_at, UTC):
        return True
    return at + timedelta(seconds=1) > opted_in


def opt_in_refused(member: Mapping[str, Any], at: datetime) -> str | None:
    """None when a Customer.io opt-in at `at` is newer than every consent the table recorded."""
    opted_in, opted_out = _stamp(member.get(OPT_IN_AT)), _stamp(member.get(OPT_OUT_AT))
    if opted_out is not None and at <= opted_out:
        return "stale"
    if opted_in is not None and at <= opted_in:
        return "echo"  # cio-sync's own opt-in identify coming back
    from_customerio = member.get(CIO_OPT_OUT_AT) is not None and member.get(CIO_OPT_OUT_AT) == member.get(
        OPT_OUT_AT
    )
    if opted_out is not None and at <= opted_out + ECHO_WINDOW and not from_customerio:
        return "echo"  # may be an opt-in identify read before the table's opt-out, applied after it
    return None


def _stamp(stored: Any) -> datetime | None:
    if not isinstance(stored, str):
        return None
    try:
        return parse_iso(stored)
    except ValueError:
        return None


def _on_or_after(stored: Any, at: datetime) -> bool:
    moment = _stamp(stored)
    return moment is not None and moment >= at
