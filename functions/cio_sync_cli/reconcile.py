"""Reconcile: ask the track function to re-sync every member (or some), after an outage or a fix.

A sync intent carries no payload (the track function reads the member's current item at send time), so
re-syncing is always safe: it converges each profile on the invariant, whatever happened before. Intent
ids are derived from the run id and the member id, and message deduplication ids from the intent ids, so
re-running a run with the same id within SQS's five-minute deduplication window sends nothing twice.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from cio_sync.members.contract import is_member_id
from cio_sync.pipeline.messages import MAX_SYNCS_PER_MESSAGE, TrackMessage, pack_bulk
from cio_sync.sync.intents import SyncProfile

# Ids read from the table before one round of packing and publishing: bounds memory, not messages.
SCAN_CHUNK: Final = 2000
MAX_INTENTS_PER_MESSAGE: Final = MAX_SYNCS_PER_MESSAGE
RUN_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")


class InvalidRunId(ValueError):
    def __init__(self) -> None:
        super().__init__("run id must be 1-64 letters, digits, '-' or '_'")


class TrackPublisher(Protocol):
    def publish_track(self, messages: Sequence[TrackMessage]) -> list[int]:
        """Send the messages; returns the indexes of those the queue did not take."""
        ...


@dataclass
class ReconcileSummary:
    """What a run did (counts only: ids would be noise, and the run id names the run)."""

    run_id: str
    dry_run: bool
    members: int = 0
    messages: int = 0
    failed_messages: int = 0
    failed_members: int = 0
    skipped_ids: int = 0  # items whose id is not a member id (written by someone else): nothing to sync

    @property
    def complete(self) -> bool:
        return self.failed_messages == 0

    def to_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "members": self.members,
            "messages": self.messages,
            "failed_messages": self.failed_messages,
            "failed_members": self.failed_members,
            "skipped_ids": self.skipped_ids,
        }


def new_run_id(
    now: Callable[[], float] = time.time, nonce: Callable[[], str] = lambda: secrets.token_hex(4)
) -> str:
    """A run of its own: intent ids name it and SQS FIFO drops a repeated one for 5 minutes, so two runs in
    one second must not share it (`--run-id` names a run to repeat on purpose)."""
    return "reconcile-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now())) + "-" + nonce()


def check_run_id(run_id: str) -> str:
    if RUN_ID_PATTERN.fullmatch(run_id) is None:
        raise InvalidRunId
    return run_id


def sync_intent(run_id: str, member_id: str) -> SyncProfile:
    """The same run and member always give the same intent id."""
    return SyncProfile(intent_id=f"{run_id}:{member_id}", member_id=member_id)


def reconcile_messages(run_id: str, member_ids: Sequence[str], lanes: int) -> list[TrackMessage]:
    """One sync intent per member, packed into lane messages of at most MAX_INTENTS_PER_MESSAGE."""
    return pack_bulk([sync_intent(run_id, member_id) for member_id in member_ids], lanes)


def reconcile(
    member_ids: Iterable[str],
    publisher: TrackPublisher | None,
    *,
    run_id: str,
    lanes: int,
    progress: Callable[[ReconcileSummary], None] | None = None,
    chunk: int = SCAN_CHUNK,
) -> ReconcileSummary:
    """Queue a sync of every id; with no publisher (a dry run) only count what would be sent.

    Ids are taken as they come (a table scan yields each item once), so memory stays at one chunk.
    """
    summary = ReconcileSummary(run_id=check_run_id(run_id), dry_run=publisher is None)
    pending: list[str] = []

    def flush() -> None:
        messages = reconcile_messages(run_id, pending, lanes)
        failed = publisher.publish_track(messages) if publisher is not None and messages else []
        summary.members += len(pending)
        summary.messages += len(messages)
        summary.failed_messages += len(failed)
        summary.failed_members += sum(len(messages[index].intents) for index in failed)
        pending.clear()
        if progress is not None:
            progress(summary)

    for member_id in member_ids:
        if not is_member_id(member_id):
            summary.skipped_ids += 1
            continue
        pending.append(member_id)
        if len(pending) >= chunk:
            flush()
    if pending:
        flush()
    return summary
