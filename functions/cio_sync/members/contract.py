"""The member item contract: the public format other services write to the member table, as data.

Items are plain dicts because that is what DynamoDB stream images and the import see. Validation is pure
and its errors name the field and the rule, never the value (values are personal data).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any, Final

MemberItem = dict[str, Any]

EMAIL_TOPICS: Final = ("community", "lifestyle", "news", "scholarships", "clubs")
SMS_TOPICS: Final = ("general", "voting")
DEFAULT_SMS_TOPICS: Final = ("general", "voting")
SMS_STATUSES: Final = ("active", "less", "pending", "stop", "undeliverable", "unknown")
SUBSCRIBED_SMS_STATUSES: Final = frozenset({"active", "less", "pending"})
UNSUBSCRIBED_SMS_STATUSES: Final = frozenset({"stop", "undeliverable"})

# Free-form string attributes (the ones with a format of their own are listed separately below).
TEXT_FIELDS: Final = (
    "first_name",
    "last_name",
    "addr_city",
    "addr_state",
    "addr_zip",
    "country",
    "language",
    "source",
    "source_detail",
    "referrer_user_id",
    "school_id",
    "club_id",
)
BOOLEAN_FIELDS: Final = ("email_subscription_status", "sms_paused")
TOPIC_FIELDS: Final = {"email_subscription_topics": EMAIL_TOPICS, "sms_subscription_topics": SMS_TOPICS}
TIMESTAMP_FIELDS: Final = (
    "promotions_muted_at",
    "created_at",
    "updated_at",
    "last_authenticated_at",
    "last_messaged_at",
    "deletion_requested_at",
    "password_updated_at",
    "email_opt_in_at",
    "email_opt_out_at",
    "email_cio_opt_out_at",
    "email_bounced_at",
    "email_spam_reported_at",
)
CONTRACT_FIELDS: Final = frozenset(
    {"id", "email", "mobile", "birthdate", "sms_status", *TEXT_FIELDS, *BOOLEAN_FIELDS, *TOPIC_FIELDS}
    | set(TIMESTAMP_FIELDS)
)
# The one attribute whose explicit null is meaningful and must be stored, not dropped.
NULLABLE_FIELDS: Final = frozenset({"promotions_muted_at"})

_MEMBER_ID = re.compile(r"[0-9a-f]{24}")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_BIRTHDATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ISO_UTC = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|\+00:00)")
# RFC 5321 caps an address at 254 characters; longer ones cannot be delivered anyway.
MAX_EMAIL_LENGTH: Final = 254


class InvalidMember(ValueError):
    """An item breaks the member contract. Names the field and the rule, never the value."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"member field {field!r}: {reason}")
        self.field = field
        self.reason = reason


def new_member_id() -> str:
    """A new id in Northstar's (MongoDB ObjectId) shape: 4-byte big-endian unix time + 8 random bytes."""
    return (int(time.time()) & 0xFFFFFFFF).to_bytes(4, "big").hex() + secrets.token_hex(8)


def is_member_id(text: object) -> bool:
    return isinstance(text, str) and _MEMBER_ID.fullmatch(text) is not None


def safe_key(key: object) -> str | None:
    """A table key fit for logs and dead letters: a member id as it is; anything else (a legacy writer may
    key items by an email address or a phone number) as a short hash, never the value."""
    if key is None or is_member_id(key):
        return key if isinstance(key, str) else None
    return "sha256:" + hashlib.sha256(str(key).encode()).hexdigest()[:16]


def to_iso(moment: datetime) -> str:
    """The contract's timestamp format: UTC, microseconds, a `Z` suffix (sorts as text, compares exactly)."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now_iso() -> str:
    return to_iso(datetime.now(UTC))


def is_iso_timestamp(text: object) -> bool:
    if not isinstance(text, str) or _ISO_UTC.fullmatch(text) is None:
        return False
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def parse_iso(text: str, field: str = "timestamp") -> datetime:
    """Parse a contract timestamp (`Z` or `+00:00`); raises InvalidMember naming `field`."""
    if not is_iso_timestamp(text):
        raise InvalidMember(field, "must be an ISO-8601 UTC timestamp like 2026-11-26T16:37:55.123456Z")
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso_to_unix_seconds(text: str, field: str = "timestamp") -> int:
    return int(parse_iso(text, field).timestamp())


def birthdate_to_unix_seconds(text: str) -> int:
    """Midnight UTC of the birthdate, as Customer.io expects dates (Northstar sent the same)."""
    parsed = _parse_birthdate(text)
    return int(datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC).timestamp())


def _parse_birthdate(text: object) -> date:
    if not isinstance(text, str) or _BIRTHDATE.fullmatch(text) is None:
        raise InvalidMember("birthdate", "must be a date formatted YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise InvalidMember("birthdate", "must be a real calendar date") from error


def validate_member(item: Mapping[str, Any], *, allow_unknown: bool = False) -> None:
    """Raise InvalidMember for the first contract rule the item breaks.

    None is accepted for every optional attribute and means "absent" (for `promotions_muted_at`, an
    explicit null). Unknown attributes are refused unless `allow_unknown` (stream images from other
    writers may carry attributes this service does not use).
    """
    if not isinstance(item, Mapping):
        raise InvalidMember("item", "must be a mapping of attribute names to values")
    if not is_member_id(item.get("id")):
        raise InvalidMember("id", "is required and must be 24 lowercase hexadecimal characters")
    if not allow_unknown:
        unknown = sorted(str(name) for name in item if name not in CONTRACT_FIELDS)
        if unknown:
            # Attribute names are schema, not personal data: naming the first one helps the writer.
            raise InvalidMember(unknown[0][:64], "is not an attribute of the member contract")
    for name, value in item.items():
        if value is None or name == "id":
            continue
        _validate_field(name, value)


def validate_fields(item: Mapping[str, Any], names: Iterable[str]) -> None:
    """Raise InvalidMember for the first of `names` whose value breaks the contract (None: absent)."""
    for name in names:
        value = item.get(name)
        if value is not None:
            _validate_field(name, value)


def _validate_field(name: str, value: Any) -> None:
    if name == "email":
        _validate_email(value)
    elif name == "mobile":
        if not isinstance(value, str) or _E164.fullmatch(value) is None:
            raise InvalidMember(name, "must be an E.164 phone number like +15555550123")
    elif name == "birthdate":
        _parse_birthdate(value)
    elif name == "sms_status":
        if value not in SMS_STATUSES:
            raise InvalidMember(name, f"must be one of {', '.join(SMS_STATUSES)}")
    elif name in TEXT_FIELDS:
        if not isinstance(value, str):
            raise InvalidMember(name, "must be a string")
    elif name in BOOLEAN_FIELDS:
        if not isinstance(value, bool):
            raise InvalidMember(name, "must be a boolean")
    elif name in TOPIC_FIELDS:
        _validate_topics(name, value, TOPIC_FIELDS[name])
    elif name in TIMESTAMP_FIELDS:
        parse_iso(value, name)


def _validate_email(value: Any) -> None:
    if not isinstance(value, str) or _EMAIL.fullmatch(value) is None:
        raise InvalidMember("email", "must be an email address")
    if value != value.lower():
        raise InvalidMember("email", "must be lowercased")
    if len(value) > MAX_EMAIL_LENGTH:
        raise InvalidMember("email", f"must be at most {MAX_EMAIL_LENGTH} characters")


def _validate_topics(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, list):
        raise InvalidMember(name, "must be a list (a DynamoDB L, so that an empty list can be stored)")
    if any(topic not in allowed for topic in value):
        raise InvalidMember(name, f"may only contain {', '.join(allowed)}")
    if len(set(value)) != len(value):
        raise InvalidMember(name, "must not repeat a topic")


def without_absent(item: Mapping[str, Any]) -> MemberItem:
    """Drop None values that mean "absent", keeping the explicit null of `promotions_muted_at`."""
    return {name: value for name, value in item.items() if value is not None or name in NULLABLE_FIELDS}
