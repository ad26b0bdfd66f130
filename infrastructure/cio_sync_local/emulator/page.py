"""The page at `/` and the data it shows (`GET /_emulator/overview`): what a developer checks by eye.

The page (`page.html`) is static; its script fetches the overview and renders it with text nodes only.
The overview masks personal data (addresses, phone numbers, names, links) even though the emulator's
JSON endpoints keep everything: the page is what ends up on screens and in screenshots.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any

LIMIT = 200
"""How many people and timeline entries the overview sends at most (newest first); it says how many match."""

KEY_ATTRIBUTES = ("email", "email_subscription_status", "unsubscribed", "sms_status")
"""The attributes the page shows as columns; the rest are listed under each person."""

PERSONAL = frozenset(
    {"email", "phone", "mobile", "to", "first_name", "last_name", "addr_city", "addr_state", "addr_zip"}
)
"""Keys whose string values the page masks, whatever they hold."""


def page_html() -> str:
    return resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")


def iso(seconds: Any) -> str | None:
    """Epoch seconds as ISO 8601 UTC to the millisecond; None for anything that is not a time."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def mask_text(text: str) -> str:
    """`ada@example.org` -> `a***@example.org`; a link keeps its host only; anything else its first letter."""
    if "@" in text:
        local, _, domain = text.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if text.startswith(("http://", "https://")):
        scheme, _, rest = text.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}/***"
    return f"{text[:1]}***" if text else text


def masked(value: Any, key: str | None = None) -> Any:
    """A copy of a JSON value with personal strings masked: under a `PERSONAL` key, addresses and links."""
    if isinstance(value, Mapping):
        return {k: masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, key) for v in value]
    if isinstance(value, str) and (key in PERSONAL or "@" in value or value.startswith(("http:", "https:"))):
        return mask_text(value)
    return value


def person_row(profile: Mapping[str, Any]) -> dict[str, Any]:
    """One person: id, ISO times, the key attributes as columns and the others, all masked."""
    attributes: Mapping[str, Any] = profile.get("attributes", {})
    return {
        "id": profile["id"],
        "cio_id": profile.get("cio_id"),
        "created": iso(profile.get("created")),
        "updated": iso(profile.get("updated")),
        **{name: masked(attributes.get(name), name) for name in KEY_ATTRIBUTES},
        "other_attributes": masked({k: v for k, v in attributes.items() if k not in KEY_ATTRIBUTES}),
    }


def _yes_no(flag: Any) -> str:
    return "yes" if flag else "no"


def _summary(entry: Mapping[str, Any]) -> tuple[str, Any]:
    """What an entry says in one line, and its data (masked), by type."""
    kind = entry["type"]
    if kind == "identify":
        names = entry.get("attributes") or []
        verb = "created" if entry.get("created") else "updated"
        return f"{verb}: {', '.join(names) or 'no attributes'}", None
    if kind == "delete":
        return ("deleted" if entry.get("existed") else "delete of nobody (no such person)"), None
    if kind == "event":
        return f"event {entry.get('name')}" + (f" (id {entry['id']})" if entry.get("id") else ""), masked(
            entry.get("data")
        )
    if kind == "email":
        delivery: Mapping[str, Any] = entry.get("delivery", {})
        recipient = masked(delivery.get("to"), "to") or "no recipient"
        message = delivery.get("transactional_message_id")
        options: Mapping[str, Any] = delivery.get("effective", {})
        text = (
            f"email {message} to {recipient}: {delivery.get('status')} ({delivery.get('delivery_id')}); "
            f"body retained: {_yes_no(not options.get('disable_message_retention'))}, "
            f"to unsubscribed: {_yes_no(options.get('send_to_unsubscribed', True))}"
        )
        return text, masked(delivery.get("message_data"))
    return str(entry.get("reason") or kind.replace("_", " ")), None


def timeline_row(entry: Mapping[str, Any]) -> dict[str, Any]:
    summary, data = _summary(entry)
    return {
        "time": iso(entry.get("time")),
        "type": entry["type"],
        "person_id": entry.get("person_id"),
        "summary": summary,
        "data": data,
    }


def _matches(person_id: Any, wanted: str) -> bool:
    return not wanted or (isinstance(person_id, str) and wanted.lower() in person_id.lower())


def overview(
    profiles: Iterable[Mapping[str, Any]],
    history: Sequence[Mapping[str, Any]],
    stats: Mapping[str, Any],
    *,
    person: str = "",
    kind: str = "",
    limit: int = LIMIT,
) -> dict[str, Any]:
    """The page's data: people (matching `person`, newest update first), the timeline (matching `person`
    and the entry type `kind`, newest first), the counters and the fault settings."""
    people = sorted(
        (p for p in profiles if _matches(p.get("id"), person)),
        key=lambda p: p.get("updated", 0),
        reverse=True,
    )
    entries = [e for e in reversed(history) if _matches(e.get("person_id"), person)]
    types = Counter(str(e["type"]) for e in entries)
    entries = [e for e in entries if not kind or e["type"] == kind]
    counters = ("requests_total", "requests_by_status", "operations_applied", "rate_limited")
    return {
        "people": {"matching": len(people), "rows": [person_row(p) for p in people[:limit]]},
        "timeline": {
            "matching": len(entries),
            "types": dict(sorted(types.items())),
            "rows": [timeline_row(e) for e in entries[:limit]],
        },
        "counters": {
            **{name: stats.get(name) for name in counters},
            "faults_failed": stats.get("faults_failed"),
            "faults_dropped": stats.get("faults_dropped"),
            "peak_requests_per_second": stats.get("peak_requests_per_second"),
            "profiles": stats.get("profiles"),
        },
        "faults": stats.get("faults", {}),
    }
