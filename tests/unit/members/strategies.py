"""Hypothesis strategies for contract-valid member items and for writes to them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from cio_sync.members.contract import EMAIL_TOPICS, SMS_STATUSES, SMS_TOPICS, MemberItem, to_iso

MEMBER_ID = "5f0c8e2a9b1d4c3e2f1a0b9c"


def _iso(micros: int) -> str:
    return to_iso(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros))


# Before 2029, so the tests' fixed "now" values (2030 and later) never collide with generated times.
timestamps = st.integers(min_value=1_600_000_000_000_000, max_value=1_850_000_000_000_000).map(_iso)


email_topics = st.lists(st.sampled_from(EMAIL_TOPICS), unique=True, max_size=5)
sms_topics = st.lists(st.sampled_from(SMS_TOPICS), unique=True, max_size=2)
email_status = st.sampled_from([True, False, None])
sms_status = st.sampled_from([*SMS_STATUSES, None])
names = st.text(alphabet="aZé€😀<>/&; ", max_size=12)  # markup, multibyte and 4-byte characters

# Each entry: a field and the values a write may give it (None = remove the field).
SUBSCRIPTION_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "email_subscription_status": email_status,
    "email_subscription_topics": st.one_of(st.none(), email_topics),
    "sms_status": sms_status,
    "sms_subscription_topics": st.one_of(st.none(), sms_topics),
    "mobile": st.sampled_from(["+15555550123", "+447700900123", None]),
}
OTHER_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "first_name": st.one_of(st.none(), names),
    "addr_city": st.one_of(st.none(), names),
    "email": st.sampled_from(["a@example.org", "b@example.org", None]),
    "last_authenticated_at": st.one_of(st.none(), timestamps),
    "password_updated_at": st.one_of(st.none(), timestamps),
    "birthdate": st.sampled_from(["1990-01-02", "2004-02-29", None]),
}
WRITABLE_FIELDS = {**SUBSCRIPTION_FIELDS, **OTHER_FIELDS}


@st.composite
def members(draw: st.DrawFn) -> MemberItem:
    item: MemberItem = {"id": MEMBER_ID, "promotions_muted_at": draw(st.one_of(st.none(), timestamps))}
    for name, values in WRITABLE_FIELDS.items():
        value = draw(values)
        if value is not None:
            item[name] = value
    return item


@st.composite
def changes(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]] = WRITABLE_FIELDS) -> dict[str, Any]:
    """A write: a few fields given new values (None = removed)."""
    chosen = draw(st.lists(st.sampled_from(sorted(fields)), unique=True, max_size=4))
    return {name: draw(fields[name]) for name in chosen}


def apply_changes(item: MemberItem, write: dict[str, Any]) -> MemberItem:
    result = dict(item)
    for name, value in write.items():
        if value is None and name != "promotions_muted_at":
            result.pop(name, None)
        else:
            result[name] = value
    return result
