"""The sweep's consent read-back: what a profile holds in Customer.io turned into the reporting events the
webhook would have sent, so a webhook lost past Customer.io's 7-day retry still reaches the member.

A profile's `unsubscribed` and its subscription-centre topics (`cio_subscription_preferences`), each with
the App API's time of its last change, become `customer`/`unsubscribed`, `customer`/`subscribed` and
`customer`/`cio_subscription_preferences_changed` events, and the consent function's own rule
(`pipeline/consent.decide`, by time against `email_opt_in_at` / `email_opt_out_at`, the echo window)
decides them: a held opt-out newer than the member's last opt-in ends the subscription; an `unsubscribed:
false` that is cio-sync's own identify coming back changes nothing. Writes go through `apply_event` (a
fresh consistent read, a write conditional on `updated_at`), so the stream function's rules do the rest.

An opt-in is read back only for a member whose table records when it last opted out (`email_opt_out_at`):
most `unsubscribed: false` and topics on are cio-sync's own identifies, and without that stamp nothing
tells them from the person's own. When in doubt, the opt-out wins.

Pure: the writes go through the MemberConsent port; without one (a dry run) the sweep's read decides.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from cio_sync.customerio.people import StoredProfile
from cio_sync.customerio.reporting import ReportingEvent
from cio_sync.members.contract import is_member_id
from cio_sync.members.subscriptions import ELIGIBILITY_FIELDS
from cio_sync.pipeline.consent import (
    OPT_OUT_AT,
    READ_ATTRIBUTES,
    STATUS,
    TOPICS,
    ConsentPolicy,
    MemberConsent,
    apply_event,
    decide,
)

UNSUBSCRIBED: Final = "unsubscribed"
PREFERENCES: Final = "cio_subscription_preferences"
# What the sweep reads of a member for the read-back (the consent function's own read).
MEMBER_ATTRIBUTES: Final = READ_ATTRIBUTES
APPLIED: Final = "applied"
WOULD_APPLY: Final = "would_apply"  # a dry run: the sweep's read says it would be written
# Why a difference was not read back, besides the consent function's DROP_REASONS.
NO_TIMESTAMP: Final = "no_timestamp"  # Customer.io gave no whole-number time: nothing to order it by
MALFORMED_PREFERENCES: Final = "malformed_preferences"
UNORDERED: Final = "unordered"  # an opt-in for a member with no `email_opt_out_at`: the opt-out wins
_HELD_OUT: Final = frozenset({"true", "1"})
_HELD_IN: Final = frozenset({"false", "0"})


def member_fields(check_attributes: bool, read_consent: bool) -> tuple[str, ...] | None:
    """What the sweep reads of each listed member: eligibility's fields, the read-back's (the full read-back
    or the opt-out walk), or (the attribute check builds payloads) None, whole items."""
    if check_attributes:
        return None
    return tuple(dict.fromkeys(ELIGIBILITY_FIELDS + (MEMBER_ATTRIBUTES if read_consent else ())))


class ConsentReadBack(NamedTuple):
    """The read-back's policy (the consent function's) and its writer (none: a dry run); `decided`: the
    members whose `unsubscribed` the opt-out walk read back in this run -> whether it wrote (or would
    write) their consent, so the full read-back never decides one opt-out twice."""

    policy: ConsentPolicy
    writer: MemberConsent | None
    decided: dict[str, bool]


def without_opt_out(profile: StoredProfile) -> StoredProfile:
    """The profile less its `unsubscribed` (the opt-out walk decided that): the full read-back reads the
    rest."""
    return StoredProfile(
        {name: value for name, value in profile.attributes.items() if name != UNSUBSCRIBED},
        {name: at for name, at in profile.timestamps.items() if name != UNSUBSCRIBED},
    )


def held_opt_out(profile: StoredProfile) -> StoredProfile | None:
    """Only the profile's `unsubscribed`, when Customer.io holds it true (the opt-out walk): nothing else of
    the profile can make an event, so no opt-in or topic is ever inferred from it."""
    if profile.attributes.get(UNSUBSCRIBED, "").strip().lower() not in _HELD_OUT:
        return None
    stamps = {UNSUBSCRIBED: profile.timestamps[UNSUBSCRIBED]} if UNSUBSCRIBED in profile.timestamps else {}
    return StoredProfile({UNSUBSCRIBED: profile.attributes[UNSUBSCRIBED]}, stamps)


def profile_events(
    member_id: str, profile: StoredProfile, member: Mapping[str, Any], topic_map: Mapping[str, str]
) -> tuple[list[ReportingEvent], list[str]]:
    """The events for where the profile's consent differs from the member's, and why any difference made
    none (NO_TIMESTAMP, MALFORMED_PREFERENCES, UNORDERED). `topic_map`: `topic_<n>` -> our topic."""
    events: list[ReportingEvent] = []
    refused: list[str] = []
    ordered = isinstance(member.get(OPT_OUT_AT), str)
    held = profile.attributes.get(UNSUBSCRIBED, "").strip().lower()
    metric = None
    if held in _HELD_OUT and member.get(STATUS) is True:
        metric = "unsubscribed"
    elif held in _HELD_IN and member.get(STATUS) is False:
        if ordered:
            metric = "subscribed"
        else:
            refused.append(UNORDERED)
    if metric is not None:
        at = _timestamp(profile, UNSUBSCRIBED)
        if at is None:
            refused.append(NO_TIMESTAMP)
        else:
            events.append(_event(member_id, metric, at))
    if topic_map and PREFERENCES in profile.attributes:
        event, reason = _preferences_event(member_id, profile, member, topic_map, ordered)
        events += [event] if event is not None else []
        refused += [reason] if reason is not None else []
    return events, refused


def _preferences_event(
    member_id: str,
    profile: StoredProfile,
    member: Mapping[str, Any],
    topic_map: Mapping[str, str],
    ordered: bool,
) -> tuple[ReportingEvent | None, str | None]:
    topics = _centre_topics(profile.attributes[PREFERENCES])
    if topics is None:
        return None, MALFORMED_PREFERENCES
    stored = set(member.get(TOPICS) or [])
    differ = {
        name: on for name, on in topics.items() if name in topic_map and on != (topic_map[name] in stored)
    }
    refused = None
    if not ordered and any(differ.values()):
        differ, refused = {name: on for name, on in differ.items() if not on}, UNORDERED
    if not differ:
        return None, refused
    at = _timestamp(profile, PREFERENCES)
    if at is None:
        return None, NO_TIMESTAMP
    event = _event(member_id, "cio_subscription_preferences_changed", at)._replace(topics=differ)
    return event, refused


def _centre_topics(stored: str) -> dict[str, bool] | None:
    """`{"topics": {"topic_1": true}}` as the App API shows it (a JSON string); None when it is not that."""
    try:
        document = json.loads(stored)
    except ValueError:
        return None
    topics = document.get("topics") if isinstance(document, dict) else None
    if not isinstance(topics, dict) or not all(isinstance(on, bool) for on in topics.values()):
        return None
    return {str(name): on for name, on in topics.items()}


def _timestamp(profile: StoredProfile, name: str) -> int | None:
    at = profile.timestamps.get(name)
    return at if isinstance(at, int) and not isinstance(at, bool) and at > 0 else None


def _event(member_id: str, metric: str, at: int) -> ReportingEvent:
    return ReportingEvent(f"readback:{member_id}:{metric}:{at}", "customer", metric, at, member_id)


def read_back(
    member_id: str,
    profile: StoredProfile,
    member: Mapping[str, Any],
    policy: ConsentPolicy,
    writer: MemberConsent | None,
) -> tuple[list[str], dict[str, Any]]:
    """Each difference's result (APPLIED, WOULD_APPLY, a DROP_REASONS entry or a refusal above) and the
    attributes the sweep's read says change. Raises TransientFailure when the member keeps changing."""
    if member_id == policy.placeholder_id or not is_member_id(member_id):
        return ["placeholder" if member_id == policy.placeholder_id else "not_a_member"], {}
    events, results = profile_events(member_id, profile, member, policy.topic_map)
    changes: dict[str, Any] = {}
    for event in events:
        planned = decide(event, member, policy)
        if isinstance(planned, str):
            results.append(planned)
        elif writer is None:
            results.append(WOULD_APPLY)
            changes.update(planned)
        else:
            result = apply_event(event, writer, policy)  # decided again on a fresh, consistent read
            results.append(result)
            if result == APPLIED:
                changes.update(planned)
    return results, changes
