"""The soak's books: what it did (Ledger), what it saw at the end (Observed), and the pure steps that turn
them into the printed summary and the mismatches that fail it. No stack here, so unit tests check them."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from cio_sync.adapters.sqs import FAILURE_REASON_ATTRIBUTE
from cio_sync.members.contract import safe_key

RESUBSCRIBE_EVENT: Final = "promotions_resubscribe"
PASSWORD_UPDATED: Final = "password_updated"  # noqa: S105 - a transactional message id
# SQS's maxReceiveCount before the outage backoff (issue 17): the soak shows messages came back more often.
OLD_RECEIVE_LIMIT: Final = 5


@dataclass
class Ledger:
    """What the soak did and therefore expects, counted as it goes."""

    writes: Counter[str] = field(default_factory=Counter)
    has_email: dict[str, bool] = field(default_factory=dict)
    resets: dict[str, str] = field(default_factory=dict)  # reset URL -> member id
    reset_intents_without_email: set[str] = field(default_factory=set)
    password_updates: Counter[str] = field(default_factory=Counter)  # member id -> updates (email members)
    password_updates_without_email: int = 0
    imports: int = 0
    weather: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Observed:
    """Everything read from the stack once the pipeline drained (Soak.observe)."""

    seed: int
    seconds: float
    ledger: Ledger
    emulator_stats: Mapping[str, Any]
    emails: Sequence[Mapping[str, Any]]
    events: Sequence[Mapping[str, Any]]
    requests: Sequence[Mapping[str, Any]]  # the emulator's request log, bodies included
    addresses: Mapping[str, str]  # email address -> member id, members with an email
    dead_letters: Mapping[str, Sequence[Mapping[str, Any]]]  # queue -> every message on it
    cohort_unmutes: Mapping[str, int]  # cohort member -> unmute transitions (one event owed each)
    violations: Sequence[str]
    bursts: int
    burst_writes: int
    burst_mismatches: Sequence[str]
    poison_ids: frozenset[str]
    poison_written: int
    failed_invocations: int
    crashes: int
    duplicates: int
    max_receive_count: int


def classify_dead_letters(
    messages: Mapping[str, Sequence[Mapping[str, Any]]],
    expected_without_email: set[str],
    poison_ids: frozenset[str],
) -> dict[str, Any]:
    """Sort every dead letter (as ReceiveMessage returns it): expected (a reset for a member without email,
    a poison record or its resync) or not; one without our reason attribute ran out of receives, which
    only a transient fault can cause."""
    transient: dict[str, int] = {}
    without_address: set[str] = set()
    unexpected = 0
    poison_parked: set[str] = set()
    poison_followups = 0
    poison_keys = {safe_key(key) for key in poison_ids}
    for queue, queued in messages.items():
        transient[queue] = 0
        for message in queued:
            reason = message.get("MessageAttributes", {}).get(FAILURE_REASON_ATTRIBUTE, {}).get("StringValue")
            body = str(message.get("Body"))
            intents = set(_intent_ids(body))
            pointer = _json_object(body) if queue == "StreamFailureQueue" else {}
            if queue == "EmailDeadLetterQueue" and reason and intents and intents <= expected_without_email:
                without_address |= intents  # a crash after dead-lettering parks it again: count once
            elif reason and pointer.get("member_id") in poison_keys:
                poison_parked.add(str(pointer.get("sequenceNumber")))  # a redelivery parks it again
            elif queue == "TrackDeadLetterQueue" and reason and _member_ids(body) <= poison_ids:
                poison_followups += 1  # a poison member's resync: track cannot read its item
            elif reason is None or queue == "StreamFailureQueue":
                transient[queue] += 1
            else:
                unexpected += 1
    return {
        "transient": transient,
        "emails_without_address": len(without_address),
        "permanent_unexpected": unexpected,
        "poison_parked": len(poison_parked),
        "poison_members_parked_by_track": poison_followups,
    }


def resubscribe_ids_sent(requests: Iterable[Mapping[str, Any]]) -> tuple[dict[str, set[str]], int]:
    """Per person, the distinct resubscribe event ids in the batch bodies the pipeline sent (every
    attempt, failed ones too), and the number of sends."""
    ids: dict[str, set[str]] = {}
    sends = 0
    for entry in requests:
        body = entry.get("body")
        if entry.get("path") != "/api/v2/batch" or not isinstance(body, dict):
            continue
        for item in body.get("batch") or []:
            if (
                isinstance(item, dict)
                and item.get("action") == "event"
                and item.get("name") == RESUBSCRIBE_EVENT
            ):
                ids.setdefault(str((item.get("identifiers") or {}).get("id")), set()).add(str(item.get("id")))
                sends += 1
    return ids, sends


@dataclass(frozen=True)
class _Derived:
    """The counts both the summary and the checks read."""

    dead: dict[str, Any]
    sent_resets: Counter[str]
    expected_resets: dict[str, str]
    sent_password: Counter[str]
    cohort_events: Counter[str]
    sent_to_cohort: dict[str, int]
    sends: int
    log_complete: bool


def _derive(seen: Observed, dead: dict[str, Any]) -> _Derived:
    ledger = seen.ledger
    sent_resets = Counter(str(email.get("message_data", {}).get("url")) for email in seen.emails)
    sent_password = Counter(
        seen.addresses.get(str(email.get("to")), "?")
        for email in seen.emails
        if email.get("transactional_message_id") == PASSWORD_UPDATED
    )
    cohort_events = Counter(
        str(event["person_id"])
        for event in seen.events
        if event["name"] == RESUBSCRIBE_EVENT and event["person_id"] in seen.cohort_unmutes
    )
    sent_ids, sends = resubscribe_ids_sent(seen.requests)
    log = seen.emulator_stats.get("request_log") or {}
    return _Derived(
        dead=dead,
        sent_resets=sent_resets,
        expected_resets={url: member for url, member in ledger.resets.items() if ledger.has_email[member]},
        sent_password=sent_password,
        cohort_events=cohort_events,
        sent_to_cohort={member: len(sent_ids.get(member, set())) for member in seen.cohort_unmutes},
        sends=sends,
        log_complete=not log.get("dropped") and not log.get("bodies_dropped"),
    )


def summarise(seen: Observed, dead: dict[str, Any]) -> dict[str, Any]:
    """Every figure the soak prints (without its mismatches)."""
    ledger, stats, derived = seen.ledger, seen.emulator_stats, _derive(seen, dead)
    by_status: dict[str, int] = stats["requests_by_status"]
    resubscribe_events = sum(1 for event in seen.events if event["name"] == RESUBSCRIBE_EVENT)
    return {
        "seed": seen.seed,
        "seconds": round(seen.seconds, 1),
        "writes": dict(sorted(ledger.writes.items())),
        "members": len(ledger.has_email),
        "faults_injected": {
            "weather_phases": len(ledger.weather),
            "customer_io_rate_limited_429": stats["rate_limited"],
            "customer_io_failed_5xx": stats["faults_failed"],
            "customer_io_dropped_connections": stats["faults_dropped"],
            "pump_crashes_after_call": seen.crashes,
            "pump_duplicate_deliveries": seen.duplicates,
        },
        "customer_io_requests": stats["requests_total"],
        "customer_io_requests_by_status": by_status,
        "failed_requests": sum(count for status, count in by_status.items() if not status.startswith("2")),
        "failed_invocations": seen.failed_invocations,
        "duplicate_events_ignored": stats["duplicate_events_ignored"],
        "dead_lettered": dead,
        "emails": {
            "resets_requested": len(derived.expected_resets),
            "resets_sent": sum(derived.sent_resets[url] for url in derived.expected_resets),
            "resets_for_members_without_email": len(ledger.resets) - len(derived.expected_resets),
            "password_updates": sum(ledger.password_updates.values()),
            "password_updated_sent": sum(derived.sent_password.values()),
            "password_updates_without_email": ledger.password_updates_without_email,
        },
        "events": {
            "resubscribe_expected": sum(seen.cohort_unmutes.values()),
            "resubscribe_tracked": sum(derived.cohort_events.values()),
            "resubscribe_other_members": resubscribe_events - sum(derived.cohort_events.values()),
            # From the request bodies: retries resend one id (Customer.io drops the repeat); a second id
            # for one unmute would be a second event.
            "resubscribe_ids_sent_to_cohort": sum(derived.sent_to_cohort.values()),
            "resubscribe_sends": derived.sends,
        },
        "invariant_violations": len(seen.violations),
        "racing_writes": {
            "bursts": seen.bursts,
            "writes": seen.burst_writes,
            "members_off_sequential_application": len(seen.burst_mismatches),
        },
        "poison": {"written": seen.poison_written, "parked": dead["poison_parked"]},
        "outage": {"max_receive_count": seen.max_receive_count, "old_receive_limit": OLD_RECEIVE_LIMIT},
    }


def mismatches(seen: Observed, dead: dict[str, Any]) -> list[str]:
    """Where the books do not balance; each names what, never member data."""
    ledger, derived = seen.ledger, _derive(seen, dead)
    found = []
    transient = {queue: count for queue, count in dead["transient"].items() if count}
    if transient:
        found.append(f"transient faults dead-lettered messages: {transient}")
    if dead["permanent_unexpected"]:
        found.append(f"{dead['permanent_unexpected']} dead letters the soak did not cause on purpose")
    if dead["emails_without_address"] != len(ledger.reset_intents_without_email):
        found.append(
            f"{dead['emails_without_address']} reset emails dead-lettered for members without email, "
            f"expected {len(ledger.reset_intents_without_email)}"
        )
    wrong_resets = sum(1 for url in derived.expected_resets if derived.sent_resets[url] != 1)
    if wrong_resets:
        found.append(f"{wrong_resets} reset URLs were not sent exactly once")
    stray = sum(derived.sent_resets[url] for url in ledger.resets if url not in derived.expected_resets)
    if stray:
        found.append(f"{stray} reset emails sent to members without email")
    if dict(derived.sent_password) != {k: v for k, v in ledger.password_updates.items() if v}:
        found.append("password-updated emails differ from the password updates made")
    owed = {k: v for k, v in seen.cohort_unmutes.items() if v}
    if dict(derived.cohort_events) != owed:
        found.append("resubscribe events differ from the cohort's unmute transitions")
    if not derived.log_complete:
        found.append("the emulator's request log overflowed: the events sent cannot be judged")
    elif {k: v for k, v in derived.sent_to_cohort.items() if v} != owed:
        found.append("the pipeline sent resubscribe event ids other than one per unmute transition")
    if seen.violations:
        found.append(f"{len(seen.violations)} members break the invariant: {seen.violations[:5]}")
    if seen.burst_mismatches:
        found.append(
            f"racing raw writes ended off the rules applied in order: {list(seen.burst_mismatches[:5])}"
        )
    if dead["poison_parked"] != seen.poison_written:
        found.append(
            f"{seen.poison_written} poison writes made, {dead['poison_parked']} parked with their reason"
        )
    return found


def _json_object(body: str) -> dict[str, Any]:
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _values(body: str, key: str) -> Iterator[str]:
    """Every string value named `key` anywhere in a JSON body."""
    try:
        stack: list[Any] = [json.loads(body)]
    except ValueError:
        return
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if isinstance(value.get(key), str):
                yield value[key]
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def _member_ids(body: str) -> set[str]:
    """The member ids a dead-lettered track message names (an empty set never counts as the poison's)."""
    return set(_values(body, "member_id")) or {"?"}


def _intent_ids(body: str) -> Iterator[str]:
    return _values(body, "intent_id")
