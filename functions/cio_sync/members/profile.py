"""A member's Customer.io profile payload: Northstar's `toCustomerIoPayload`, within Customer.io's limits.

Explicit nulls are part of the payload on purpose: Customer.io removes an attribute set to null, so a
field that became absent is cleared on the profile instead of keeping a stale value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from cio_sync.members.contract import (
    EMAIL_TOPICS,
    SMS_TOPICS,
    InvalidMember,
    birthdate_to_unix_seconds,
    iso_to_unix_seconds,
)
from cio_sync.members.subscriptions import is_sms_subscribed
from cio_sync.members.text import strip_html, truncate_utf8, utf8_length

__all__ = ["ProfileLimitError", "build_profile", "profile_attributes", "strip_html", "truncate_utf8"]

ProfileValue = str | int | float | bool | None
ProfileAttributes = dict[str, ProfileValue]

# Customer.io's documented limits (its Track API description, "Customer limits").
MAX_ID_BYTES: Final = 150
MAX_NAME_BYTES: Final = 150
MAX_VALUE_BYTES: Final = 1000
MAX_ATTRIBUTES: Final = 300

# Free text typed by members: HTML is stripped and over-long values are truncated (on a UTF-8 boundary),
# because a clipped city name is better than a profile that never syncs.
FREE_TEXT_FIELDS: Final = ("first_name", "last_name", "addr_city", "addr_state", "addr_zip")
# Other strings copied as they are. Over the limit, a description is truncated; an address or a code
# (which a clipped value would corrupt) is sent as null.
VERBATIM_FIELDS: Final = (
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
_DESCRIPTIONS: Final = frozenset({"source", "source_detail"})
_KNOWN_TOPICS: Final = {
    "email_subscription_topics": set(EMAIL_TOPICS),
    "sms_subscription_topics": set(SMS_TOPICS),
}
_LONGEST_TOPIC: Final = max(len(topic) for topic in (*EMAIL_TOPICS, *SMS_TOPICS))
# Northstar's timestamps. `password_updated_at` is left out (security detail, no marketing use) and so
# is `promotions_muted_at` (always null while a profile exists).
TIMESTAMP_ATTRIBUTES: Final = (
    "created_at",
    "updated_at",
    "last_authenticated_at",
    "last_messaged_at",
    "deletion_requested_at",
    "email_opt_in_at",  # its change must reach the track function: it stamps the opt-in identify
)
# Topic -> attribute, as Northstar named them (note `scholarship_...` for the topic `scholarships`).
EMAIL_TOPIC_ATTRIBUTES: Final = {
    "news": "news_email_subscription_status",
    "lifestyle": "lifestyle_email_subscription_status",
    "community": "community_email_subscription_status",
    "scholarships": "scholarship_email_subscription_status",
    "clubs": "clubs_email_subscription_status",
}
# On every profile cio-sync identifies: the profile sweep deletes only profiles that carry it, never another
# system's people who share the workspace (docs/sweep.md).
MANAGED_ATTRIBUTE: Final = "cio_sync_managed"
SMS_TOPIC_ATTRIBUTES: Final = {
    "general": "general_sms_subscription_status",
    "voting": "voting_sms_subscription_status",
}


class ProfileLimitError(ValueError):
    """The payload would break a Customer.io limit. Names the attribute, never the value."""

    def __init__(self, attribute: str, reason: str) -> None:
        super().__init__(f"profile attribute {attribute!r}: {reason}")
        self.attribute = attribute
        self.reason = reason


@dataclass(frozen=True)
class Degraded:
    """An attribute sent truncated or as null because its stored value breaks a rule (never the value)."""

    attribute: str
    rule: str


@dataclass(frozen=True)
class Profile:
    attributes: ProfileAttributes
    degraded: tuple[Degraded, ...] = ()


def _text(item: Mapping[str, Any], field: str, problems: list[Degraded]) -> str | None:
    value = item.get(field)
    if value is None or isinstance(value, str):
        return value
    problems.append(Degraded(field, "must be a string; sent as null"))
    return None


def _bounded(field: str, text: str, truncate: bool, problems: list[Degraded]) -> str | None:
    """`text` within the value limit: truncated (free text, descriptions) or null (addresses, codes)."""
    if len(text) * 4 <= MAX_VALUE_BYTES or utf8_length(text) <= MAX_VALUE_BYTES:
        return text
    if truncate:
        problems.append(Degraded(field, f"over {MAX_VALUE_BYTES} bytes; truncated"))
        return truncate_utf8(text, MAX_VALUE_BYTES)
    problems.append(Degraded(field, f"over {MAX_VALUE_BYTES} bytes; sent as null"))
    return None


def _unix(field: str, value: object, parse: Callable[[str], int], problems: list[Degraded]) -> int | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise InvalidMember(field, "must be a string")
        return parse(value)
    except InvalidMember as error:
        problems.append(Degraded(field, f"{error.reason}; sent as null"))
        return None


def _topics(item: Mapping[str, Any], field: str, problems: list[Degraded]) -> set[str] | None:
    """The topics a member chose; values outside the contract are ignored, a non-list is unknown (None)."""
    value = item.get(field)
    if value is None:
        return set()
    if not isinstance(value, list):
        problems.append(Degraded(field, "must be a list; its topics sent as null"))
        return None
    chosen = {topic for topic in value if isinstance(topic, str) and len(topic) <= _LONGEST_TOPIC}
    if len(chosen) != len(value) or not chosen <= _KNOWN_TOPICS[field]:
        problems.append(Degraded(field, "holds values outside the contract; those ignored"))
    return chosen


def profile_attributes(item: Mapping[str, Any]) -> ProfileAttributes:
    """Customer.io attributes for a member item (identify payload, id included); see build_profile."""
    return build_profile(item).attributes


def build_profile(item: Mapping[str, Any]) -> Profile:
    """The identify payload, attribute by attribute, and the attributes that had to be degraded.

    Only an unusable id raises (ProfileLimitError): any other attribute that breaks the contract or a
    Customer.io limit is truncated or sent as null and reported, so it can never hold back the
    subscription attributes (docs/member-contract.md, "Profile payload").
    """
    problems: list[Degraded] = []
    mobile = _text(item, "mobile", problems) if is_sms_subscribed(item) else None
    payload: ProfileAttributes = {
        "id": item.get("id"),
        "phone": None if mobile is None else _bounded("phone", mobile, False, problems),
        "sms_paused": item.get("sms_paused") is True,
        "birthdate": _unix("birthdate", item.get("birthdate"), birthdate_to_unix_seconds, problems),
        MANAGED_ATTRIBUTE: True,
    }
    for field in VERBATIM_FIELDS:
        text = _text(item, field, problems)
        payload[field] = None if text is None else _bounded(field, text, field in _DESCRIPTIONS, problems)
    for field in FREE_TEXT_FIELDS:
        text = _text(item, field, problems)
        payload[field] = None if text is None else _bounded(field, strip_html(text), True, problems)
    for field in TIMESTAMP_ATTRIBUTES:
        payload[field] = _unix(field, item.get(field), partial(iso_to_unix_seconds, field=field), problems)
    for field, attributes in (
        ("email_subscription_topics", EMAIL_TOPIC_ATTRIBUTES),
        ("sms_subscription_topics", SMS_TOPIC_ATTRIBUTES),
    ):
        chosen = _topics(item, field, problems)
        for topic, attribute in attributes.items():
            payload[attribute] = None if chosen is None else topic in chosen
    # Unset: both null, so Customer.io removes what a removed status or a deleted, re-created id left
    # (the consent split stamps a removal like an opt-in, so an opt-out Customer.io holds stays). Anything
    # but a boolean counts as not subscribed, as eligibility reads it: the safe side of consent.
    status = item.get("email_subscription_status")
    if status is None:
        payload["email_subscription_status"] = payload["unsubscribed"] = None
    else:
        if not isinstance(status, bool):
            problems.append(Degraded("email_subscription_status", "must be a boolean; sent as unsubscribed"))
        payload["email_subscription_status"] = status is True
        payload["unsubscribed"] = status is not True
    check_limits(payload)
    return Profile(payload, tuple(problems))


def check_limits(payload: Mapping[str, ProfileValue]) -> None:
    """Raise ProfileLimitError where Customer.io would reject the identify call with a 400."""
    identifier = payload.get("id")
    if not isinstance(identifier, str) or not identifier:
        raise ProfileLimitError("id", "is required and must be a string")
    if len(identifier.encode("utf-8")) > MAX_ID_BYTES:
        raise ProfileLimitError("id", f"exceeds {MAX_ID_BYTES} bytes")
    if len(payload) > MAX_ATTRIBUTES:
        raise ProfileLimitError("*", f"more than {MAX_ATTRIBUTES} attributes")
    for name, value in payload.items():
        if len(name.encode("utf-8")) > MAX_NAME_BYTES:
            raise ProfileLimitError(name[:40], f"name exceeds {MAX_NAME_BYTES} bytes")
        if isinstance(value, str) and len(value.encode("utf-8")) > MAX_VALUE_BYTES:
            raise ProfileLimitError(name, f"value exceeds {MAX_VALUE_BYTES} bytes")
