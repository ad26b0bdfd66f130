"""Member items for tests and the bench: valid by default, overridable field by field.

One factory, so that the unit tests and the bench's throughput figures build the same member.
"""

from __future__ import annotations

from typing import Any

from cio_sync.members.contract import MemberItem

MEMBER_ID = "5f0c8e2a9b1d4c3e2f1a0b9c"
CREATED = "2026-01-02T03:04:05.000000Z"
NOW = "2026-11-26T16:37:55.123456Z"
LATER = "2026-11-27T09:00:00.000000Z"


def member(**fields: Any) -> MemberItem:
    """An email- and SMS-subscribed member; pass field=None to make a field absent."""
    item: MemberItem = {
        "id": MEMBER_ID,
        "email": "member@example.org",
        "mobile": "+15555550123",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "birthdate": "1990-01-02",
        "addr_city": "Springfield",
        "addr_state": "IL",
        "addr_zip": "62701",
        "country": "US",
        "language": "en",
        "source": "phoenix-next",
        "source_detail": "utm_medium=referral",
        "email_subscription_status": True,
        "email_subscription_topics": ["community"],
        "sms_status": "active",
        "sms_subscription_topics": ["general", "voting"],
        "sms_paused": False,
        "promotions_muted_at": None,
        "created_at": CREATED,
        "updated_at": CREATED,
    }
    for name, value in fields.items():
        if value is None and name != "promotions_muted_at":
            item.pop(name, None)
        else:
            item[name] = value
    return item


def numbered_member(number: int, **fields: Any) -> MemberItem:
    """Member `number` of many: its own id (24 hex digits) and email, otherwise as `member`."""
    return member(id=f"{number:024x}", email=f"member{number}@example.org", **fields)
