"""The messages between functions: what the stream decided should happen, not how to do it.

Each intent carries a deterministic id (a ULID derived from the stream record), so a replayed record
produces the same ids and Customer.io or our own idempotency layer can recognise the duplicate.
Reasons in MalformedIntent never quote the message: bodies may hold personal data.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Final, Literal, get_args

from cio_sync.members.contract import is_member_id

INTENT_VERSION: Final = 1
EmailKind = Literal["forgot_password", "password_updated"]
EMAIL_KINDS: Final[tuple[str, ...]] = get_args(EmailKind)
# Customer.io's limits for events (its Track API description, reference/ beside the emulator).
MAX_EVENT_NAME_BYTES: Final = 100
MAX_EVENT_DATA_BYTES: Final = 100_000

_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID: Final = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
_MAX_ULID_TIME: Final = (1 << 48) - 1


class MalformedIntent(ValueError):
    """A message that is not a valid intent; the reason names the rule, never a value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def deterministic_event_id(seed: str, timestamp_ms: int) -> str:
    """A ULID whose time is `timestamp_ms` and whose 80 random bits are the first 10 bytes of sha256(seed)."""
    if (
        isinstance(timestamp_ms, bool)
        or not isinstance(timestamp_ms, int)
        or not 0 <= timestamp_ms <= _MAX_ULID_TIME
    ):
        raise ValueError("timestamp_ms must be between 0 and 2**48 - 1")
    randomness = int.from_bytes(hashlib.sha256(seed.encode("utf-8")).digest()[:10], "big")
    value = (timestamp_ms << 80) | randomness
    return "".join(_CROCKFORD[(value >> shift) & 0x1F] for shift in range(125, -1, -5))


def is_ulid(text: object) -> bool:
    return isinstance(text, str) and _ULID.fullmatch(text) is not None


def ulid_timestamp_ms(ulid: str) -> int:
    if not is_ulid(ulid):
        raise ValueError("not a ULID")
    value = 0
    for char in ulid:
        value = (value << 5) | _CROCKFORD.index(char)
    return value >> 80


def sync_lag_ms(intent_id: str, done_s: float) -> int | None:
    """Freshness: ms from the stream record that caused the intent (its ULID's time) to `done_s`.

    None for an id that is not a ULID (no record time to measure from).
    """
    if not is_ulid(intent_id):
        return None
    return max(0, round(done_s * 1000) - ulid_timestamp_ms(intent_id))


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise MalformedIntent(reason)


def _check_common(intent_id: object, member_id: object) -> None:
    _require(isinstance(intent_id, str) and 0 < len(intent_id) <= 128, "intent_id must be a non-empty string")
    _require(is_member_id(member_id), "member_id must be 24 lowercase hexadecimal characters")


def _check_data(data: object) -> None:
    _require(isinstance(data, dict), "data must be a JSON object")
    try:
        encoded = json.dumps(data, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise MalformedIntent("data must hold only JSON values") from error
    _require(len(encoded.encode("utf-8")) <= MAX_EVENT_DATA_BYTES, "data exceeds 100,000 bytes")


def _dump(message: dict[str, Any]) -> str:
    return json.dumps(message, sort_keys=True, separators=(",", ":"), allow_nan=False)


class _Serialised:
    """One serialisation for every intent: its type, the version, and its fields."""

    TYPE: ClassVar[str]

    def to_json(self) -> str:
        return _dump({"type": self.TYPE, "version": INTENT_VERSION, **asdict(self)})  # type: ignore[call-overload]


@dataclass(frozen=True)
class SyncProfile(_Serialised):
    """Make the member's Customer.io profile match the member's current item (identify or delete)."""

    TYPE: ClassVar[str] = "sync_profile"
    intent_id: str
    member_id: str
    erase: bool = False  # the item was purged: a missing member is then suppressed, not only deleted
    created: bool = False  # the profile is created (item new or newly eligible): unsuppressed first

    def __post_init__(self) -> None:
        _check_common(self.intent_id, self.member_id)
        _require(self.erase is True or self.erase is False, "erase must be a boolean")
        _require(self.created is True or self.created is False, "created must be a boolean")

    def to_json(self) -> str:
        """Flags only when set: a message without them reads the same to a consumer deployed before them."""
        fields = asdict(self)
        for flag in ("erase", "created"):
            if not fields[flag]:
                del fields[flag]
        return _dump({"type": self.TYPE, "version": INTENT_VERSION, **fields})


@dataclass(frozen=True)
class TrackEvent(_Serialised):
    """Track a Customer.io event for a member who has a profile; `intent_id` doubles as the event id."""

    TYPE: ClassVar[str] = "track_event"
    intent_id: str
    member_id: str
    name: str
    data: dict[str, Any] = field(hash=False)
    timestamp: int  # unix seconds, as Customer.io expects

    def __post_init__(self) -> None:
        _check_common(self.intent_id, self.member_id)
        _require(
            isinstance(self.name, str) and 0 < len(self.name.encode("utf-8")) <= MAX_EVENT_NAME_BYTES,
            "name must be a non-empty string of at most 100 bytes",
        )
        _check_data(self.data)
        _require(
            isinstance(self.timestamp, int) and not isinstance(self.timestamp, bool) and self.timestamp >= 0,
            "timestamp must be a non-negative integer (unix seconds)",
        )


@dataclass(frozen=True)
class SendEmail(_Serialised):
    """Send a transactional email to the member (addressed via the placeholder profile, not theirs).

    `expires_at` (unix seconds) is set by the producer for mail that is useless late (a reset link): it is
    parked as expired instead of being sent after that.
    """

    TYPE: ClassVar[str] = "send_email"
    intent_id: str
    member_id: str
    kind: EmailKind
    data: dict[str, Any] = field(hash=False)
    expires_at: int | None = None

    def __post_init__(self) -> None:
        _check_common(self.intent_id, self.member_id)
        _require(self.kind in EMAIL_KINDS, f"kind must be one of {', '.join(EMAIL_KINDS)}")
        _check_data(self.data)
        _require(
            self.expires_at is None
            or (
                isinstance(self.expires_at, int)
                and not isinstance(self.expires_at, bool)
                and self.expires_at > 0
            ),
            "expires_at must be unix seconds",
        )

    def expired(self, now_s: float) -> bool:
        return self.expires_at is not None and now_s >= self.expires_at


Intent = SyncProfile | TrackEvent | SendEmail

_FIELDS: Final[dict[str, frozenset[str]]] = {
    SyncProfile.TYPE: frozenset({"intent_id", "member_id"}),
    TrackEvent.TYPE: frozenset({"intent_id", "member_id", "name", "data", "timestamp"}),
    SendEmail.TYPE: frozenset({"intent_id", "member_id", "kind", "data"}),
}
# Fields a message may leave out (messages queued before the field existed).
_OPTIONAL: Final[dict[str, frozenset[str]]] = {
    SyncProfile.TYPE: frozenset({"erase", "created"}),
    TrackEvent.TYPE: frozenset(),
    SendEmail.TYPE: frozenset({"expires_at"}),
}


def parse_intent(body: str) -> Intent:
    """Parse one serialised intent; anything unexpected (missing, extra or mistyped fields) is refused."""
    try:
        message: Any = json.loads(body)
    except (TypeError, ValueError) as error:
        raise MalformedIntent("message body is not JSON") from error
    _require(isinstance(message, dict), "message body is not a JSON object")
    kind = message.get("type")
    _require(isinstance(kind, str) and kind in _FIELDS, "type is missing or unknown")
    version = message.get("version")
    _require(version == INTENT_VERSION and not isinstance(version, bool), "version must be 1")
    expected, optional = _FIELDS[kind], _OPTIONAL[kind]
    present = set(message) - {"type", "version"}
    missing = sorted(expected - present)
    _require(not missing, f"{kind} lacks {', '.join(missing)}")
    extra = present - expected - optional
    # Unexpected names are not quoted: in a malformed body even a key may be personal data.
    _require(not extra, f"{kind} has {len(extra)} unexpected field(s)")
    fields = {name: message[name] for name in (expected | optional) & present}
    if kind == SyncProfile.TYPE:
        return SyncProfile(**fields)
    if kind == TrackEvent.TYPE:
        return TrackEvent(**fields)
    return SendEmail(**fields)
