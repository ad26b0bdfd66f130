"""track's FIFO lanes: a failed message holds up the rest of its group, and the group comes back later."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from cio_sync.pipeline.messages import InboundMessage
from cio_sync.pipeline.redelivery import DeadLetters, Redelivery


class Parked(Protocol):
    dead_lettered: int


def fifo_failures(
    messages: Sequence[InboundMessage],
    failed: Mapping[int, str],
    dead_letters: DeadLetters,
    redelivery: Redelivery,
    outcome: Parked,
) -> list[str]:
    """A failed message fails every later message of its group (FIFO order), unless it is dead-lettered.

    A message on its last allowed receive is parked with its reason instead of failing, so every dead
    letter says why it is there.
    """
    blocked_groups: set[str] = set()
    failed_ids: list[str] = []
    for index, message in enumerate(messages):
        if message.group_id in blocked_groups:
            failed_ids.append(message.message_id)
            continue
        reason = failed.get(index)
        if reason is None:
            continue
        parked = redelivery.park_reason(message.receive_count, reason)
        if parked is not None:
            dead_letters.dead_letter(message.body, parked)
            outcome.dead_lettered += 1
            continue
        blocked_groups.add(message.group_id)
        failed_ids.append(message.message_id)
    return failed_ids


def come_back_later(
    messages: Sequence[InboundMessage], failed_ids: Sequence[str], redelivery: Redelivery
) -> None:
    """Back off each failed lane: its messages come back together, after the first failure's backoff.

    FIFO returns none of a group while any of its messages is in flight, so one delay per group.
    """
    failed = set(failed_ids)
    group_delay: dict[str, int] = {}
    postponed: list[tuple[str, int]] = []
    for message in messages:
        if message.message_id in failed and message.receipt_handle:
            if message.group_id not in group_delay:
                group_delay[message.group_id] = redelivery.delay_s(message.receive_count)
            postponed.append((message.receipt_handle, group_delay[message.group_id]))
    redelivery.postpone(postponed)
