"""Queue message envelopes and ordering lanes.

A track-queue message carries the intents of many members of one *lane* (a FIFO message group chosen by
member id), so per-member order holds while a FIFO batch of 10 messages carries hundreds of operations.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from cio_sync.sync.intents import Intent, MalformedIntent, parse_intent

ENVELOPE_TYPE = "intent_batch"
ENVELOPE_VERSION = 1
# The FIFO message groups of the track queue. A constant on purpose: every producer (the stream function,
# other services' producer(), reconcile, redrive) must put a member in the same lane, or a late identify in
# one lane could overtake the delete in another; a configurable count could disagree between producers or
# change while messages are in flight.
TRACK_LANES: Final = 16
# SQS's message limit is 256 KiB; stay well under it so attributes and JSON escaping always fit.
MAX_MESSAGE_BYTES = 200_000
# Bulk producers (reconcile, the profile sweep) put at most this many syncs in one message: a track
# invocation takes 10 messages, so at most ~1,000 members, well inside its timeout.
MAX_SYNCS_PER_MESSAGE: Final = 100


class InboundMessage(NamedTuple):
    """What a consumer (track, email) needs of one SQS record."""

    message_id: str
    group_id: str
    body: str
    receive_count: int
    receipt_handle: str = ""


def lane_of(member_id: str, lanes: int) -> str:
    """A stable lane (FIFO MessageGroupId) for a member: every intent of a member travels in one lane."""
    digest = hashlib.sha256(member_id.encode()).digest()
    return f"lane-{int.from_bytes(digest[:4], 'big') % lanes:03d}"


class TrackMessage(NamedTuple):
    """One FIFO message: a lane's intents, in the order they must be applied."""

    lane: str
    intents: tuple[Intent, ...]

    @property
    def deduplication_id(self) -> str:
        """Derived from the intents' own deterministic ids, so a replayed stream batch is deduplicated."""
        digest = hashlib.sha256()
        for intent in self.intents:
            digest.update(intent.intent_id.encode())
            digest.update(b"\n")
        return digest.hexdigest()

    def body(self) -> str:
        return encode_intents(self.intents)


def encode_intents(intents: Sequence[Intent]) -> str:
    items = [json.loads(intent.to_json()) for intent in intents]
    envelope = {"type": ENVELOPE_TYPE, "version": ENVELOPE_VERSION, "intents": items}
    return json.dumps(envelope, sort_keys=True, separators=(",", ":"))


def decode_intents(body: str) -> list[Intent]:
    """Parse an envelope; raises MalformedIntent with a reason that never quotes the body."""
    try:
        envelope: Any = json.loads(body)
    except (TypeError, ValueError) as error:
        raise MalformedIntent("message body is not JSON") from error
    if not isinstance(envelope, dict):
        raise MalformedIntent("message body is not a JSON object")
    if envelope.get("type") != ENVELOPE_TYPE or envelope.get("version") != ENVELOPE_VERSION:
        # A single bare intent is accepted too (producers and redriven dead letters send those).
        return [parse_intent(body)]
    items = envelope.get("intents")
    if not isinstance(items, list) or not items:
        raise MalformedIntent("envelope has no intents")
    return [parse_intent(json.dumps(item)) for item in items]


def pack_lanes(intents: Sequence[Intent], lanes: int) -> list[TrackMessage]:
    """Group intents by lane, keeping their order, and split each lane into messages under the size cap."""
    by_lane: dict[str, list[Intent]] = {}
    for intent in intents:
        by_lane.setdefault(lane_of(intent.member_id, lanes), []).append(intent)
    messages: list[TrackMessage] = []
    for lane, lane_intents in by_lane.items():
        current: list[Intent] = []
        size = 64
        for intent in lane_intents:
            intent_size = len(intent.to_json().encode()) + 2
            if current and size + intent_size > MAX_MESSAGE_BYTES:
                messages.append(TrackMessage(lane, tuple(current)))
                current, size = [], 64
            current.append(intent)
            size += intent_size
        if current:
            messages.append(TrackMessage(lane, tuple(current)))
    return messages


def pack_bulk(
    intents: Sequence[Intent], lanes: int, per_message: int = MAX_SYNCS_PER_MESSAGE
) -> list[TrackMessage]:
    """`pack_lanes`, with at most `per_message` intents a message (for bulk producers)."""
    messages: list[TrackMessage] = []
    for packed in pack_lanes(intents, lanes):
        for start in range(0, len(packed.intents), per_message):
            messages.append(TrackMessage(packed.lane, packed.intents[start : start + per_message]))
    return messages
