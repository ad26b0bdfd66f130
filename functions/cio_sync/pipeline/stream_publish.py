"""member-stream's publishing step: a batch's intents onto the queues, and the first record not sent
(Lambda retries the batch from it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from cio_sync.pipeline.messages import TrackMessage, pack_lanes
from cio_sync.pipeline.stream_records import MemberChange
from cio_sync.sync.intents import Intent, SendEmail


class IntentPublisher(Protocol):
    def publish_track(self, messages: Sequence[TrackMessage]) -> list[int]:
        """Send messages; return the indexes of those that could not be sent."""
        ...

    def publish_email(self, intents: Sequence[SendEmail]) -> list[int]:
        """Send email intents; return the indexes of those that could not be sent."""
        ...

    def record_stream_failure(self, record: Mapping[str, Any], reason: str) -> None:
        """Park a record with its reason (the stream's failure queue): its keys and position only."""
        ...


def publish_intents(
    changes: Sequence[tuple[MemberChange, list[Intent]]], publisher: IntentPublisher, lanes: int
) -> int | None:
    """Send every intent; return the index (in `changes`) of the earliest record whose intents did not go."""
    track_intents: list[Intent] = []
    emails: list[SendEmail] = []
    origin: dict[str, int] = {}
    for position, (_, intents) in enumerate(changes):
        for intent in intents:
            origin[intent.intent_id] = position
            if isinstance(intent, SendEmail):
                emails.append(intent)
            else:
                track_intents.append(intent)
    messages = pack_lanes(track_intents, lanes)
    failed_positions: list[int] = []
    for index in publisher.publish_track(messages):
        failed_positions.extend(origin[intent.intent_id] for intent in messages[index].intents)
    for index in publisher.publish_email(emails):
        failed_positions.append(origin[emails[index].intent_id])
    if not failed_positions:
        return None
    return min(failed_positions)
