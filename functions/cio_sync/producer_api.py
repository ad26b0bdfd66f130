"""The producer API other services call: `producer().request_password_reset(member_id, url)` and
`producer().track_event(member_id, name, data)` (cio_sync.pipeline.producer says what each validates).

This is the producer's composition root: its settings (the two queue URLs) read once from the calling
service's environment, and the SQS adapter built from them, once per process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import NamedTuple

from cio_sync.adapters.aws import aws_client
from cio_sync.adapters.sqs import SqsQueues
from cio_sync.environment import Environment
from cio_sync.pipeline.messages import TRACK_LANES
from cio_sync.pipeline.producer import Producer


class ProducerSettings(NamedTuple):
    track_queue_url: str
    email_queue_url: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ProducerSettings:
        env = Environment(environ)
        return cls(track_queue_url=env.text("TRACK_QUEUE_URL"), email_queue_url=env.text("EMAIL_QUEUE_URL"))


def build(settings: ProducerSettings) -> Producer:
    return Producer(
        SqsQueues(aws_client("sqs"), settings.track_queue_url, settings.email_queue_url), TRACK_LANES
    )


@cache
def producer() -> Producer:
    """The process's producer, built at first use (`producer.cache_clear()` rebuilds)."""
    return build(ProducerSettings.from_env())
