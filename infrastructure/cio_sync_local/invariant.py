"""The invariant every part serves, checked against a running stack (README, docs/member-contract.md).

Once the pipeline is idle, a member has a Customer.io profile exactly when the member exists, is not muted
and is subscribed to email or SMS, and that profile's attributes equal the payload computed from the member
item. Tests, the soak and the benchmark all ask this one module.

It is an independent oracle: eligibility and the payload are written here again from the contract
document, not imported from the code under test, so a bug there cannot agree with itself. Only the
document's tables are encoded; where the code and this module disagree, one of them breaks the contract.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

import requests
from boto3.dynamodb.types import TypeDeserializer

_deserializer = TypeDeserializer()

# docs/member-contract.md, "Subscription rules" and "Profile payload".
SUBSCRIBED_SMS: Final = frozenset({"active", "less", "pending"})
AS_STORED: Final = (
    "email",
    "sms_status",
    "country",
    "language",
    "source",
    "source_detail",
    "referrer_user_id",
    "school_id",
    "club_id",
)
FREE_TEXT: Final = ("first_name", "last_name", "addr_city", "addr_state", "addr_zip")
TIMESTAMPS: Final = (
    "created_at",
    "updated_at",
    "last_authenticated_at",
    "last_messaged_at",
    "deletion_requested_at",
    "email_opt_in_at",
)
EMAIL_TOPICS: Final = {
    "news": "news_email_subscription_status",
    "lifestyle": "lifestyle_email_subscription_status",
    "community": "community_email_subscription_status",
    "scholarships": "scholarship_email_subscription_status",
    "clubs": "clubs_email_subscription_status",
}
SMS_TOPICS: Final = {"general": "general_sms_subscription_status", "voting": "voting_sms_subscription_status"}
MAX_VALUE_BYTES: Final = 1000
# Timestamps that change on every login or touch ride along with the next real change, or sync once per
# window (docs/pipeline.md, "Volatile timestamps"): on the profile they may lag within the same window.
VOLATILE: Final = ("updated_at", "last_authenticated_at", "last_messaged_at")
DEFAULT_VOLATILE_WINDOW_S: Final = 24 * 3600
# PHP strip_tags: comments go whole (a `>` inside one does not end it), then tags, an unterminated one too.
_COMMENT: Final = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_TAG: Final = re.compile(r"<[A-Za-z/!?][^>]*(?:>|\Z)")


def plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; member items hold ints where they hold numbers at all."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def eligible(member: Mapping[str, Any] | None) -> bool:
    """Profile-eligible: exists, not muted, subscribed to email, or to SMS with a mobile."""
    if member is None or member.get("promotions_muted_at") is not None:
        return False
    sms = member.get("sms_status") in SUBSCRIBED_SMS and bool(member.get("mobile"))
    return member.get("email_subscription_status") is True or sms


def _unix(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def _text(value: str) -> str:
    stripped = _TAG.sub("", _COMMENT.sub("", value))
    return stripped.encode("utf-8")[:MAX_VALUE_BYTES].decode("utf-8", errors="ignore")


# docs/member-contract.md, "Consent in Customer.io": the value of each consent attribute that opts out.
OPT_OUT: Final = {
    "unsubscribed": True,
    "email_subscription_status": False,
    **dict.fromkeys(EMAIL_TOPICS.values(), False),
}
PREFERENCES: Final = "cio_subscription_preferences"


def expected_attributes(
    member: Mapping[str, Any], topic_map: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """What Customer.io should hold for an eligible member: the documented payload, less the id and the
    attributes that are null (Customer.io removes an attribute set to null), with the subscription-centre
    topics `topic_map` names."""
    attributes: dict[str, Any] = {name: member[name] for name in AS_STORED if member.get(name) is not None}
    if member.get("sms_status") in SUBSCRIBED_SMS and member.get("mobile"):
        attributes["phone"] = member["mobile"]
    attributes["sms_paused"] = member.get("sms_paused") is True
    attributes["cio_sync_managed"] = True
    for name in FREE_TEXT:
        if member.get(name) is not None:
            attributes[name] = _text(member[name])
    if member.get("birthdate") is not None:
        day = date.fromisoformat(member["birthdate"])
        attributes["birthdate"] = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    for name in TIMESTAMPS:
        if member.get(name) is not None:
            attributes[name] = _unix(member[name])
    email_topics = set(member.get("email_subscription_topics") or [])
    sms_topics = set(member.get("sms_subscription_topics") or [])
    attributes.update({attribute: topic in email_topics for topic, attribute in EMAIL_TOPICS.items()})
    attributes.update({attribute: topic in sms_topics for topic, attribute in SMS_TOPICS.items()})
    if member.get("email_subscription_status") is not None:
        attributes["email_subscription_status"] = member["email_subscription_status"] is True
        attributes["unsubscribed"] = member["email_subscription_status"] is not True
    if topic_map:
        topics = {f"topic_{number}": topic in email_topics for topic, number in topic_map.items()}
        attributes[PREFERENCES] = {"topics": topics}
    return {name: value for name, value in attributes.items() if value not in (None, "")}


def _lags_within_window(actual: Any, expected: Any, window_s: int) -> bool:
    """A volatile timestamp on the profile: no newer than the item's, and from the same window."""
    if not isinstance(actual, int) or not isinstance(expected, int) or window_s <= 0:
        return False
    return actual <= expected and actual // window_s == expected // window_s


def attribute_differences(
    expected: Mapping[str, Any],
    actual: Mapping[str, Any],
    volatile_window_s: int,
    held: set[str] | None = None,
) -> list[str]:
    """Names of the attributes a profile holds otherwise than the payload says (apart from opt-outs
    Customer.io holds: `held`). A function of its own so the state machine's self-test can break it and
    show that the proof depends on it."""
    return sorted(
        name
        for name in set(expected) | set(actual)
        if expected.get(name) != actual.get(name)
        and name not in (held or set())
        and not (
            name in VOLATILE and _lags_within_window(actual.get(name), expected.get(name), volatile_window_s)
        )
    )


def _held_opt_outs(
    member: Mapping[str, Any],
    expected: Mapping[str, Any],
    actual: Mapping[str, Any],
    stamps: Mapping[str, int],
) -> set[str]:
    """Consent attributes where the profile keeps an opt-out Customer.io recorded after the member's last
    opt-in (the subscription-centre object: each topic that differs is opted out on the profile)."""
    opted_in_at = _unix(member["email_opt_in_at"]) if member.get("email_opt_in_at") else 0
    held = {
        name
        for name, opt_out in OPT_OUT.items()
        if actual.get(name) == opt_out and stamps.get(name, 0) > opted_in_at
    }
    have, want = _topics(actual), _topics(expected)
    if stamps.get(PREFERENCES, 0) > opted_in_at and all(
        have.get(topic) is False for topic in set(have) | set(want) if have.get(topic) != want.get(topic)
    ):
        held.add(PREFERENCES)
    return held


def _topics(attributes: Mapping[str, Any]) -> dict[str, Any]:
    preferences = attributes.get(PREFERENCES)
    topics = preferences.get("topics") if isinstance(preferences, dict) else None
    return topics if isinstance(topics, dict) else {}


def violations(
    members: Mapping[str, Mapping[str, Any] | None],
    profiles: Mapping[str, Mapping[str, Any]],
    *,
    ignore_profiles: Iterable[str] = (),
    skip: Iterable[str] = (),
    volatile_window_s: int = DEFAULT_VOLATILE_WINDOW_S,
    topic_map: Mapping[str, int] | None = None,
    stamps: Mapping[str, Mapping[str, int]] | None = None,
) -> list[str]:
    """Every way Customer.io differs from the table, one line each (member ids and attribute names only).

    `stamps` (person id -> attribute -> the timestamp of its last change, as Customer.io keeps them): a
    consent attribute may hold its opt-out while the member is opted in, when Customer.io recorded that
    opt-out after the member's `email_opt_in_at` (no sync may undo it). Without `stamps`, it may not.

    `skip`: ids whose items break the contract on purpose (a test's poison): no claim is made about them.

    `members` maps each member id to check to its item (None: the member does not exist); `profiles` maps
    person id to attributes, as `GET /_emulator/profiles` answers. Profiles of ids not in `members` are
    violations too, except `ignore_profiles` (the transactional placeholder).
    """
    problems: list[str] = []
    skipped = set(skip)
    for member_id, member in sorted(members.items()):
        if member_id in skipped:
            continue
        profile = profiles.get(member_id)
        if not eligible(member):
            if profile is not None:
                problems.append(f"{member_id}: has a profile but is not eligible")
            continue
        assert member is not None
        if profile is None:
            problems.append(f"{member_id}: eligible but has no profile")
            continue
        expected = expected_attributes(member, topic_map)
        actual = dict(profile)
        held = _held_opt_outs(member, expected, actual, (stamps or {}).get(member_id, {}))
        wrong = attribute_differences(expected, actual, volatile_window_s, held)
        if wrong:
            problems.append(f"{member_id}: attributes differ: {', '.join(wrong)}")
    ignored = set(ignore_profiles)
    problems.extend(
        f"{profile_id}: profile without a member"
        for profile_id in sorted(set(profiles) - set(members) - ignored - skipped)
    )
    return problems


def scan_members(dynamodb: Any, table: str) -> dict[str, dict[str, Any]]:
    """Every member item in the table (a consistent scan), by id."""
    members: dict[str, dict[str, Any]] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page.get("Items", []):
            member = {name: plain(_deserializer.deserialize(value)) for name, value in item.items()}
            members[member["id"]] = member
    return members


def fetch_profiles(emulator_url: str) -> dict[str, dict[str, Any]]:
    """Person id -> attributes."""
    response = requests.get(f"{emulator_url}/_emulator/profiles", timeout=30)
    response.raise_for_status()
    profiles: dict[str, dict[str, Any]] = response.json()
    return profiles


def check_stack(
    dynamodb: Any,
    table: str,
    emulator_url: str,
    *,
    ignore_profiles: Iterable[str] = (),
    skip: Iterable[str] = (),
    volatile_window_s: int = DEFAULT_VOLATILE_WINDOW_S,
    topic_map: Mapping[str, int] | None = None,
    stamps: Mapping[str, Mapping[str, int]] | None = None,
) -> list[str]:
    """The invariant over the whole table and every profile the emulator holds (`violations`)."""
    members: dict[str, Mapping[str, Any] | None] = dict(scan_members(dynamodb, table))
    return violations(
        members,
        fetch_profiles(emulator_url),
        ignore_profiles=ignore_profiles,
        skip=skip,
        volatile_window_s=volatile_window_s,
        topic_map=topic_map,
        stamps=stamps,
    )
