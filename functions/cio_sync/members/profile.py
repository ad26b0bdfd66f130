"""A member's Customer.io profile payload: Northstar's `toCustomerIoPayload`, within Customer.io's limits.

Explicit nulls are part of the payload on purpose: Customer.io removes an attribute set to null, so a
field that became absent is cleared on the profile instead of keeping a stale value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any, Final

from cio_sync.members.contract import birthdate_to_unix_seconds, iso_to_unix_seconds
from cio_sync.members.subscriptions import is_sms_subscribed

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
# Other strings copied as they are; these are too long only when the data is wrong, so they raise.
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


_UNTERMINATED_TAG: Final = re.compile(r"<[A-Za-z/!?][^>]*\Z")


class _TextCollector(HTMLParser):
    """Keeps text outside tags and leaves entities encoded, like PHP's strip_tags.

    Decoding `&lt;b&gt;` would turn escaped text back into markup, so entities pass through untouched.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_entityref(self, name: str) -> None:
        self.parts.append(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self.parts.append(f"&#{name};")


def strip_html(text: str) -> str:
    collector = _TextCollector()
    # A tag left open at the end is dropped too (browsers drop it; HTMLParser would keep it as text).
    collector.feed(_UNTERMINATED_TAG.sub("", text))
    collector.close()
    return "".join(collector.parts)


def truncate_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of `text` that fits in `max_bytes` of UTF-8 without splitting a character."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def _optional_text(item: Mapping[str, Any], field: str) -> str | None:
    value = item.get(field)
    return value if isinstance(value, str) else None


def _timestamp(item: Mapping[str, Any], field: str) -> int | None:
    value = item.get(field)
    return None if value is None else iso_to_unix_seconds(value, field)


def profile_attributes(item: Mapping[str, Any]) -> ProfileAttributes:
    """Customer.io attributes for a contract-valid member item (identify payload, id included)."""
    email_topics = set(item.get("email_subscription_topics") or [])
    sms_topics = set(item.get("sms_subscription_topics") or [])
    birthdate = item.get("birthdate")
    payload: ProfileAttributes = {
        "id": item["id"],
        "phone": item.get("mobile") if is_sms_subscribed(item) else None,
        "sms_paused": bool(item.get("sms_paused")),
        "birthdate": None if birthdate is None else birthdate_to_unix_seconds(birthdate),
    }
    for field in VERBATIM_FIELDS:
        payload[field] = _optional_text(item, field)
    for field in FREE_TEXT_FIELDS:
        text = _optional_text(item, field)
        payload[field] = None if text is None else truncate_utf8(strip_html(text), MAX_VALUE_BYTES)
    for field in TIMESTAMP_ATTRIBUTES:
        payload[field] = _timestamp(item, field)
    for topic, attribute in EMAIL_TOPIC_ATTRIBUTES.items():
        payload[attribute] = topic in email_topics
    for topic, attribute in SMS_TOPIC_ATTRIBUTES.items():
        payload[attribute] = topic in sms_topics
    # Only when known: an unset status must not tell Customer.io the member unsubscribed.
    status = item.get("email_subscription_status")
    if status is not None:
        payload["email_subscription_status"] = bool(status)
        payload["unsubscribed"] = not status
    check_limits(payload)
    return payload


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
