"""The consent function's flow: a reporting event from Customer.io becomes a write to the member table.

Writes go through the table like any other writer's, so the stream function's rules do the rest (an
email unsubscribe clears topics, and a member left with no channel is muted and loses the profile).
Each event is decided on the member as read, and written only while `updated_at` still holds what was
read: a redelivered event finds its change made and writes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from cio_sync.customerio.reporting import ReportingEvent, event_from_message
from cio_sync.failures import TransientFailure
from cio_sync.members.contract import is_member_id, parse_iso, to_iso
from cio_sync.pipeline.messages import InboundMessage
from cio_sync.pipeline.redelivery import DeadLetters

STATUS = "email_subscription_status"
TOPICS = "email_subscription_topics"
BOUNCED_AT = "email_bounced_at"
SPAM_REPORTED_AT = "email_spam_reported_at"
OPT_IN_AT = "email_opt_in_at"  # when cio-sync last recorded an email opt-in (another writer's attribute)
# What the consent function reads of a member (and nothing else).
READ_ATTRIBUTES = (
    "id",
    "updated_at",
    "deletion_requested_at",
    STATUS,
    TOPICS,
    OPT_IN_AT,
    BOUNCED_AT,
    SPAM_REPORTED_AT,
)
WRITE_ATTEMPTS = 3


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
    """Each message on its own; the ids of those that failed (FIFO: every later one too)."""
    applied, quarantined, parked, dropped = 0, 0, 0, Counter[str]()
    failed: list[str] = []
    for message in messages:
        if failed:
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
        if member.get("deletion_requested_at"):
            return "deleted"
        changes = decide(event, member, policy)
        if isinstance(changes, str):
            return changes
        if members.write(event.customer_id, member.get("updated_at"), changes):
            return "applied"
    raise TransientFailure("member kept changing while a consent event was applied")


def _not_for_a_member(event: ReportingEvent, policy: ConsentPolicy) -> str | None:
    if not event.handled:
        return "ignored"
    if event.customer_id == policy.placeholder_id:
        return "placeholder"
    if not is_member_id(event.customer_id):
        return "not_a_member"
    return None


def decide(event: ReportingEvent, member: Mapping[str, Any], policy: ConsentPolicy) -> dict[str, Any] | str:
    """The attributes to write for this event, or why none are (`unchanged`, `echo`)."""
    at = datetime.fromtimestamp(event.timestamp, UTC)
    kind = (event.object_type, event.metric)
    changes: dict[str, Any] = {}
    if kind in {("customer", "unsubscribed"), ("email", "unsubscribed"), ("email", "spammed")}:
        changes[STATUS] = False
    if kind == ("email", "spammed") and not _on_or_after(member.get(SPAM_REPORTED_AT), at):
        changes[SPAM_REPORTED_AT] = to_iso(at)
    if kind == ("email", "bounced"):
        if not _on_or_after(member.get(BOUNCED_AT), at):
            changes[BOUNCED_AT] = to_iso(at)
        if policy.bounce_unsubscribes:
            changes[STATUS] = False
    if kind == ("customer", "subscribed"):
        if member.get(STATUS) is True or _on_or_after(member.get(OPT_IN_AT), at):
            return "echo"  # cio-sync's own identify coming back, or older than the opt-in we recorded
        changes[STATUS] = True
    if kind == ("customer", "cio_subscription_preferences_changed"):
        chosen = {
            policy.topic_map[name]
            for name, on in (event.topics or {}).items()
            if on and name in policy.topic_map
        }
        changes[TOPICS] = sorted(chosen)
        if set(member.get(TOPICS) or []) == chosen:
            return "unchanged"
    changed = {name: value for name, value in changes.items() if member.get(name) != value}
    return changed or "unchanged"


def _on_or_after(stored: Any, at: datetime) -> bool:
    if not isinstance(stored, str):
        return False
    try:
        return parse_iso(stored) >= at
    except ValueError:
        return False
