"""The queue a Customer.io consumer (track, email) reads: the same four settings and the same two
adapters for both, read and built in one place."""

from __future__ import annotations

from typing import Any, NamedTuple

from cio_sync.adapters.sqs import QueueDeadLetters, SqsVisibility
from cio_sync.environment import Environment
from cio_sync.pipeline.redelivery import Redelivery


class ConsumerQueue(NamedTuple):
    queue_url: str  # failed messages are handed back to it with a growing visibility timeout
    dead_letter_queue_url: str  # a message's last receive parks it here with its reason
    max_receive_count: int  # equals the queue's maxReceiveCount
    retry_time_scale: float  # < 1 only in the local stack's tests: backoffs run that much faster

    @classmethod
    def from_env(cls, env: Environment, name: str) -> ConsumerQueue:
        """`name` is the queue's variable prefix: TRACK reads TRACK_QUEUE_URL, TRACK_DEAD_LETTER_QUEUE_URL."""
        return cls(
            queue_url=env.text(f"{name}_QUEUE_URL"),
            dead_letter_queue_url=env.text(f"{name}_DEAD_LETTER_QUEUE_URL"),
            max_receive_count=env.count("MAX_RECEIVE_COUNT"),
            retry_time_scale=env.number("RETRY_TIME_SCALE", default=1.0),
        )

    def dead_letters(self, sqs: Any) -> QueueDeadLetters:
        return QueueDeadLetters(sqs, self.dead_letter_queue_url)

    def redelivery(self, sqs: Any) -> Redelivery:
        return Redelivery(SqsVisibility(sqs, self.queue_url), self.max_receive_count, self.retry_time_scale)
