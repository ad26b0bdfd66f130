"""`members explain`, the pure part: what the rules say Customer.io should hold for one member, how that
differs from what it holds, and the whole picture as JSON or text with personal values masked.

The expected profile comes from the product's own functions (eligibility, `profile_attributes`, the consent
split of `member_identifies`), so an explanation can never disagree with what the track function sends.
Masking happens here, once, for both outputs: an operator pastes an explanation into a ticket.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from cio_sync.customerio.people import as_stored
from cio_sync.members.contract import BOOLEAN_FIELDS, TIMESTAMP_FIELDS, TOPIC_FIELDS, InvalidMember
from cio_sync.members.profile import (
    EMAIL_TOPIC_ATTRIBUTES,
    MANAGED_ATTRIBUTE,
    SMS_TOPIC_ATTRIBUTES,
    ProfileLimitError,
    profile_attributes,
)
from cio_sync.members.raw_writes import MODEL_WRITE
from cio_sync.members.subscriptions import is_profile_eligible
from cio_sync.pipeline.consent_identify import PREFERENCES_PREFIX, TopicMap, holds_opt_out, member_identifies
from cio_sync.pipeline.consent_readback import UNSUBSCRIBED
from cio_sync.pipeline.profile_drift import drifted_attributes

# Item fields and profile attributes known to hold no personal data: the profile's own consent, status and
# timestamp fields. Every other value is masked, so a field added later (a name, a phone number, an
# address) is masked until someone decides it is not personal.
NOT_PERSONAL: Final = frozenset(
    {
        "id",
        "cio_id",
        "sms_status",
        MANAGED_ATTRIBUTE,
        MODEL_WRITE,
        UNSUBSCRIBED,
        *BOOLEAN_FIELDS,
        *TOPIC_FIELDS,
        *TIMESTAMP_FIELDS,
        *EMAIL_TOPIC_ATTRIBUTES.values(),
        *SMS_TOPIC_ATTRIBUTES.values(),
    }
)
SAME: Final = "same"
DIFFERS: Final = "differs"
MISSING: Final = "missing in Customer.io"
OPT_OUT_KEPT: Final = "opt-out kept by Customer.io"
EXTRA: Final = "only in Customer.io"
# The send time an explanation plans with (after any real stamp), so its identifies can be told apart.
SEND_TIME: Final = 2**40


def mask(name: str, value: Any, show_personal: bool) -> Any:
    """A value not known to be impersonal as `<N chars>`: enough to see that it is there, never what."""
    if show_personal or _not_personal(name) or value in (None, ""):
        return value
    return f"<masked, {len(str(value))} chars>"


def _not_personal(name: str) -> bool:
    return name in NOT_PERSONAL or name.startswith(PREFERENCES_PREFIX)


def masked(values: Mapping[str, Any] | None, show_personal: bool) -> dict[str, Any] | None:
    if values is None:
        return None
    return {name: mask(name, value, show_personal) for name, value in sorted(values.items())}


@dataclass(frozen=True)
class Expected:
    """What the rules say: no profile (with why), or a payload and the identifies that carry it."""

    eligible: bool
    reason: str
    payload: dict[str, Any] | None = None
    identifies: list[dict[str, Any]] = field(default_factory=list)
    has_item: bool = True


def expected_profile(item: Mapping[str, Any] | None, topic_map: TopicMap) -> Expected:
    if item is None:
        return Expected(False, "no member item: any profile is deleted", has_item=False)
    if not is_profile_eligible(item):
        return Expected(False, "not eligible (no subscription, muted or deleted): any profile is deleted")
    try:
        payload = dict(profile_attributes(item))
    except (ProfileLimitError, InvalidMember, TypeError, ValueError, KeyError) as error:
        # The error names the attribute and the rule, never the value.
        return Expected(True, f"profile cannot be built: {error}")
    identifies = [
        {"attributes": sorted(identify.attributes), "stamp": _stamp_rule(identify.timestamp)}
        # As the track function plans it (profile_operations): the send time is also the version.
        for identify in member_identifies(str(item["id"]), payload, SEND_TIME, SEND_TIME, topic_map)
    ]
    return Expected(True, "eligible: a profile with this payload", payload, identifies)


def _stamp_rule(stamp: int | None) -> str:
    if stamp == SEND_TIME:
        return "the send time (attributes and opt-outs: they land)"
    return f"the opt-in time {_iso(stamp)} (opt-ins: a later opt-out in Customer.io wins)"


@dataclass(frozen=True)
class DiffRow:
    attribute: str
    status: str
    expected: Any
    stored: str | None
    stored_at: str | None


def diff_profile(
    payload: Mapping[str, Any] | None,
    stored: Mapping[str, str] | None,
    timestamps: Mapping[str, int] | None = None,
    volatile_window_s: int = 0,
) -> list[DiffRow]:
    """Each attribute either side names, with its status; the sweep's own drift rule decides `differs`."""
    stored = stored or {}
    stamps = timestamps or {}
    wrong = set(drifted_attributes(dict(payload or {}), stored, volatile_window_s))
    rows: list[DiffRow] = []
    for name in sorted(set(payload or {}) | set(stored)):
        if name in ("id", "cio_id"):
            continue
        expected = (payload or {}).get(name)
        have = stored.get(name)
        if payload is None or name not in payload:
            status = EXTRA
        elif name in wrong:
            status = MISSING if have is None else DIFFERS
        elif have is not None and expected is not None and have != as_stored(expected):
            status = OPT_OUT_KEPT if holds_opt_out(name, have) else SAME
        else:
            status = SAME
        rows.append(DiffRow(name, status, expected, have, _iso(stamps.get(name))))
    return rows


def verdict(expected: Expected, stored: Mapping[str, str] | None, rows: Sequence[DiffRow]) -> str:
    """One line: does Customer.io hold what the rules say? An unknown id says so first (a typo is likelier
    than a deleted member), as `members show` does."""
    if expected.payload is None and not expected.eligible:
        gone = "no member item: " if not expected.has_item else ""
        if stored is None:
            return gone + "in step: no profile, as the rules say"
        return gone + "out of step: Customer.io holds a profile the rules say should be deleted"
    if expected.payload is None:
        return "the track function parks this member: " + expected.reason
    if stored is None:
        return "out of step: the rules say a profile, Customer.io holds none"
    differing = [row.attribute for row in rows if row.status in (DIFFERS, MISSING)]
    if differing:
        return f"out of step: {len(differing)} attribute(s) differ: {', '.join(differing)}"
    return "in step"


def explanation(
    member_id: str,
    item: Mapping[str, Any] | None,
    expected: Expected,
    *,
    stored: Mapping[str, str] | None,
    timestamps: Mapping[str, int] | None,
    operations: Mapping[str, Any],
    show_personal: bool,
    volatile_window_s: int = 0,
) -> dict[str, Any]:
    """The whole explanation as a JSON-ready dict, personal values masked unless asked for."""
    rows = diff_profile(expected.payload, stored, timestamps, volatile_window_s)
    return {
        "member_id": member_id,
        "verdict": verdict(expected, stored, rows),
        "item": masked(item, show_personal),
        "expected": {
            "eligible": expected.eligible,
            "reason": expected.reason,
            "payload": masked(expected.payload, show_personal),
            "identifies": expected.identifies,
        },
        "customerio": masked(stored, show_personal),
        "diff": [
            {
                "attribute": row.attribute,
                "status": row.status,
                "expected": mask(row.attribute, row.expected, show_personal),
                "stored": mask(row.attribute, row.stored, show_personal),
                "stored_at": row.stored_at,
            }
            for row in rows
        ],
        "operations": dict(operations),
    }


def as_text(report: Mapping[str, Any]) -> str:
    """The explanation for a person: verdict first, then the differences, then where each side stands."""
    lines = [f"member {report['member_id']}: {report['verdict']}"]
    expected = report["expected"]
    lines.append(f"rules: {expected['reason']}")
    for identify in expected["identifies"]:
        lines.append(f"  identify stamped with {identify['stamp']}: {', '.join(identify['attributes'])}")
    lines.append("item:" if report["item"] is not None else "item: none")
    lines.extend(f"  {name} = {value!r}" for name, value in (report["item"] or {}).items())
    lines.append("customer.io: " + ("no profile" if report["customerio"] is None else "profile"))
    unequal = [row for row in report["diff"] if row["status"] != SAME]
    lines.append(f"differences: {len(unequal) or 'none'}")
    for row in unequal:
        since = f" (set {row['stored_at']})" if row["stored_at"] else ""
        lines.append(
            f"  {row['attribute']}: {row['status']}: expected {row['expected']!r}, holds {row['stored']!r}"
            f"{since}"
        )
    for source, found in report["operations"].items():
        lines.append(f"{source}: " + (found if isinstance(found, str) else f"{len(found)} found"))
        lines.extend(f"  {_entry(entry)}" for entry in ([] if isinstance(found, str) else found))
    return "\n".join(lines)


def _entry(entry: Any) -> str:
    if isinstance(entry, Mapping):
        return ", ".join(f"{name}={value}" for name, value in entry.items() if value is not None)
    return str(entry)


def _iso(stamp: int | None) -> str | None:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, UTC).isoformat().replace("+00:00", "Z")


def batch_operations(member_id: str, body: Any) -> list[str]:
    """The member's operations in a v2 batch body, as `index:type/action` (which part of a request a
    per-operation error would name); empty for any other body."""
    batch = body.get("batch") if isinstance(body, Mapping) else None
    if not isinstance(batch, list):
        return []
    return [
        f"{index}:{operation.get('type', '?')}/{operation.get('action', '?')}"
        for index, operation in enumerate(batch)
        if isinstance(operation, Mapping) and member_id in _flat(operation.get("identifiers"))
    ]


def masked_path(path: Any) -> str:
    """A request path without the address an email-identifier workspace puts in it."""
    return "/".join("<masked address>" if "@" in part else part for part in str(path).split("/"))


# The App API's attribute read is a POST: explain's own read (and the sweep's) changes nothing Customer.io
# holds, and listing it would grow the member's history each time explain runs.
ATTRIBUTE_READ = "/v1/customers/attributes"


def mentions(member_id: str, entry: Any) -> bool:
    """An emulator request-log entry that changed what Customer.io holds for the member: its path or JSON
    body names the id, and it is not a read."""
    if not isinstance(entry, Mapping):
        return False
    path = str(entry.get("path", ""))
    if entry.get("method") == "GET" or path.split("?", maxsplit=1)[0] == ATTRIBUTE_READ:
        return False
    return member_id in path or member_id in _flat(entry.get("body"))


def _flat(value: Any) -> str:
    if isinstance(value, Mapping):
        return " ".join(_flat(item) for item in value.values())
    if isinstance(value, list):
        return " ".join(_flat(item) for item in value)
    return str(value)
