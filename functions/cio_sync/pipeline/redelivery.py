"""One redelivery rule for the consumers (track, email): when failed work comes back, and when to give up.

Work that failed in a way that may pass (Customer.io down, rate limited, misconfigured; a throttled
table) is handed back to its queue and comes back later each time: the message's visibility grows
exponentially from 20 s to a 15-minute cap, with jitter, so a Customer.io outage costs a few receives an
hour per lane, not a dead letter every 30 minutes. The queues allow MAX_RECEIVES receives and keep
messages 14 days: the cap and the budget together ride out an outage of more than a day
(`outage_budget_s`), and lanes resume by themselves within one cap after it ends. Only the last allowed
receive parks a message, with its reason.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Final, Protocol

BASE_DELAY_S: Final = 20
MAX_DELAY_S: Final = 15 * 60
# Equals the track and email queues' maxReceiveCount (template.yaml; tests/infra checks they agree).
MAX_RECEIVES: Final = 300
# SQS refuses a visibility timeout above 12 hours.
_SQS_MAX_VISIBILITY_S: Final = 12 * 3600


def retry_delay_s(receive_count: int, rng: random.Random, scale: float = 1.0) -> int:
    """Seconds until a message that failed on its `receive_count`-th receive comes back.

    Equal jitter: half the exponential step fixed, half random, so retries of a whole lane never come
    back in step. `scale` < 1 compresses time for the local stack's tests; production uses 1.
    """
    step = min(MAX_DELAY_S, BASE_DELAY_S * 2.0 ** max(receive_count - 1, 0))
    delay = (step / 2 + rng.uniform(0, step / 2)) * scale
    return min(_SQS_MAX_VISIBILITY_S, max(1, math.ceil(delay)))


def outage_budget_s(max_receives: int = MAX_RECEIVES) -> float:
    """The shortest outage that could park a message: every retry at its shortest jittered delay."""
    return sum(min(MAX_DELAY_S, BASE_DELAY_S * 2.0 ** (n - 1)) / 2 for n in range(1, max_receives))


class DeadLetters(Protocol):
    def dead_letter(self, body: str, reason: str) -> None:
        """Park a message (or the intents of one member) with the reason it cannot succeed."""
        ...


class MessageVisibility(Protocol):
    def postpone(self, delays: Sequence[tuple[str, int]]) -> None:
        """Make each message (by receipt handle) visible again after its number of seconds."""
        ...


class Redelivery:
    """The rule, bound to one queue."""

    def __init__(
        self,
        visibility: MessageVisibility,
        max_receives: int = MAX_RECEIVES,
        scale: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        self.visibility = visibility
        self.max_receives = max_receives
        self.scale = scale
        self.rng = rng or random.Random()  # noqa: S311 - backoff jitter, not security

    def is_last_receive(self, receive_count: int) -> bool:
        return receive_count >= self.max_receives

    def park_reason(self, receive_count: int, reason: str, *, retryable: bool = True) -> str | None:
        """The park-or-retry decision every consumer makes for a failed message: the reason to park it
        now, or None to hand it back to its queue (`come_back_later`).

        Work that cannot succeed is parked at once with its reason; work that may pass comes back later,
        until its last allowed receive, which parks it saying how many receives it took.
        """
        if not retryable:
            return reason
        if self.is_last_receive(receive_count):
            return f"gave up after {receive_count} receives: {reason}"
        return None

    def delay_s(self, receive_count: int) -> int:
        return retry_delay_s(receive_count, self.rng, self.scale)

    def come_back_later(self, failed: Sequence[tuple[str, int]]) -> None:
        """Postpone each failed message (receipt handle, receive count) by its own backoff."""
        self.postpone([(receipt, self.delay_s(count)) for receipt, count in failed])

    def postpone(self, delays: Sequence[tuple[str, int]]) -> None:
        if delays:
            self.visibility.postpone(delays)
