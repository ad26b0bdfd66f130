"""Customer.io's reporting webhooks: the signature, and the events cio-sync acts on, as data.

Customer.io signs each call with `X-CIO-Signature`, the hex HMAC-SHA256 of `v0:<X-CIO-Timestamp>:<body>`
under the webhook's signing key. A call that is unsigned, forged, more than five minutes ahead, older than
Customer.io retries (MAX_AGE_S), oversized or malformed is refused before anything is written. An old but
validly signed call is accepted: nothing says Customer.io re-signs a retry (docs/decision_log.md), and a
replay is harmless (the FIFO queue dedupes on event_id; the consent function orders events by time).
Once the signature holds, only unreadable JSON is refused: any other body (an event cio-sync does not act on,
one for a profile with no `id`, one missing a field) is answered 2xx and dropped (`Unusable`), because
Customer.io retries a 4xx for days and backlogs every later webhook behind it.
The queued form keeps what the consent function needs and nothing else (no address, no content).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from cio_sync.members.contract import EMAIL_TOPICS

MAX_BODY_BYTES: Final = 256 * 1024
TIMESTAMP_TOLERANCE_S: Final = 300  # how far ahead a sender's clock may run
MAX_AGE_S: Final = 8 * 86_400  # Customer.io retries a failed call for up to 7 days; a day's margin
# (object_type, metric) the consent function acts on; Customer.io names them "<object_type>_<metric>".
HANDLED: Final = frozenset(
    {
        ("customer", "subscribed"),
        ("customer", "unsubscribed"),
        ("customer", "cio_subscription_preferences_changed"),
        ("email", "unsubscribed"),
        ("email", "bounced"),
        ("email", "spammed"),
    }
)
WEBHOOK_EVENTS: Final = tuple(sorted(f"{kind}_{metric}" for kind, metric in HANDLED))
_MAX_ID = 200


class Refused(ValueError):
    """A call refused with a 4xx; `reason` names the metric and never quotes the body."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class Unusable(ValueError):
    """A signed, readable body cio-sync does not act on: answered 2xx, counted as `reason`, dropped."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ReportingEvent(NamedTuple):
    """One event as the consent function needs it (`topics` only for preference changes)."""

    event_id: str
    object_type: str
    metric: str
    timestamp: int
    customer_id: str
    topics: dict[str, bool] | None = None
    received_at: int = 0
    replayed: bool = False  # sent back from the quarantine by an operator: never quarantined again

    @property
    def handled(self) -> bool:
        return (self.object_type, self.metric) in HANDLED

    def to_message(self) -> str:
        return json.dumps(self._asdict(), separators=(",", ":"), sort_keys=True)


def verify_signature(
    body: bytes, timestamp: str | None, signature: str | None, key: bytes, now: float
) -> None:
    """Refuse (401) unless the body is signed with `key`, stamped no more than five minutes ahead of `now`
    and no older than Customer.io's retries."""
    if not timestamp or not signature:
        raise Refused("unsigned", 401)
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise Refused("bad_timestamp", 401)
    if not -TIMESTAMP_TOLERANCE_S <= now - int(timestamp) <= MAX_AGE_S:
        raise Refused("stale_timestamp", 401)
    expected = hmac.new(key, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    # As bytes: compare_digest refuses str with non-ASCII characters (a forged header's, say).
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode(errors="replace")):
        raise Refused("bad_signature", 401)


def parse_event(body: bytes, received_at: int) -> ReportingEvent:
    """The event of a verified body; Refused("malformed") when it is not JSON, Unusable("not_a_member") for
    a handled event of a profile with no `id` (an email-only profile), Unusable("ignored") otherwise."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        raise Refused("malformed") from None
    if not isinstance(document, dict):
        raise Refused("malformed")
    event_id, object_type, metric = (document.get(name) for name in ("event_id", "object_type", "metric"))
    timestamp = document.get("timestamp")
    raw_data = document.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    if not all(_short_text(value) for value in (event_id, object_type, metric)):
        raise Unusable("ignored")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp < 0:
        raise Unusable("ignored")
    event = ReportingEvent(
        str(event_id), str(object_type), str(metric), timestamp, _customer_id(data), None, received_at
    )
    if not event.handled:
        raise Unusable("ignored")
    if not event.customer_id:
        raise Unusable("not_a_member")
    if (event.object_type, event.metric) == ("customer", "cio_subscription_preferences_changed"):
        event = event._replace(topics=_topics(data))
    return event


def event_from_message(body: str) -> ReportingEvent:
    """A queued event back; ValueError when the message is not one (the consent function parks it)."""
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError("not an object")
    try:
        event = ReportingEvent(**document)
    except TypeError:
        raise ValueError("not a queued reporting event") from None
    texts = (event.event_id, event.object_type, event.metric, event.customer_id)
    numbers = (event.timestamp, event.received_at)
    if not all(isinstance(value, str) for value in texts) or not all(
        isinstance(value, int) and not isinstance(value, bool) for value in numbers
    ):
        raise ValueError("not a queued reporting event")
    if not isinstance(event.replayed, bool) or not (event.topics is None or isinstance(event.topics, dict)):
        raise ValueError("not a queued reporting event")
    return event


def _short_text(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _MAX_ID


def _customer_id(data: Mapping[str, Any]) -> str:
    identifiers = data.get("identifiers")
    found = identifiers.get("id") if isinstance(identifiers, dict) else None
    found = found if found is not None else data.get("customer_id")
    return found if isinstance(found, str) and _short_text(found) else ""


def _topics(data: Mapping[str, Any]) -> dict[str, bool]:
    """`data.content` holds the preferences (a JSON string, or an object): `{"topics": {"topic_1": true}}`."""
    content = data.get("content")
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError:
            raise Unusable("ignored") from None
    topics = content.get("topics") if isinstance(content, dict) else None
    if not isinstance(topics, dict) or not all(
        _short_text(name) and isinstance(value, bool) for name, value in topics.items()
    ):
        raise Unusable("ignored")
    return dict(topics)


def parse_topic_map(text: str) -> dict[str, int]:
    """`news=1,lifestyle=2` -> {"news": 1, "lifestyle": 2}; empty text: no subscription-centre topics."""
    mapping: dict[str, int] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        topic, _, number = entry.partition("=")
        topic = topic.strip()
        if topic not in EMAIL_TOPICS:
            raise ValueError(
                f"email topic map: {topic[:40]!r} is not an email topic ({', '.join(EMAIL_TOPICS)})"
            )
        if not number.strip().isdigit() or int(number) < 1:
            raise ValueError(f"email topic map: {topic!r} needs a topic id >= 1, as in {topic}=1")
        if topic in mapping or int(number) in mapping.values():
            raise ValueError(f"email topic map: {topic!r} or its id appears twice")
        mapping[topic] = int(number)
    return mapping


def centre_topic_names(topic_ids: Mapping[str, int]) -> dict[str, str]:
    """{"news": 1} -> {"topic_1": "news"}: the subscription centre's topics by our names."""
    return {f"topic_{number}": name for name, number in topic_ids.items()}
