"""The one redelivery rule: failed work comes back later each time, and an outage of a day parks nothing."""

from __future__ import annotations

import random

from cio_sync.customerio.errors import ServerError
from cio_sync.pipeline.messages import InboundMessage, encode_intents
from cio_sync.pipeline.redelivery import (
    BASE_DELAY_S,
    MAX_DELAY_S,
    MAX_RECEIVES,
    Redelivery,
    outage_budget_s,
    retry_delay_s,
)
from cio_sync.pipeline.track_consumer import process_track_batch
from cio_sync.sync.intents import SyncProfile

from .fakes import FakeDeadLetters, FakeReader, FakeSender, FakeVisibility

MEMBER = "5f0c8e2a9b1d4c3e2f1a0b9c"


def test_delays_grow_exponentially_within_jitter_up_to_the_cap() -> None:
    rng = random.Random(3)
    for receive in range(1, 40):
        step = min(MAX_DELAY_S, BASE_DELAY_S * 2 ** (receive - 1))
        for _ in range(20):
            assert step / 2 <= retry_delay_s(receive, rng) <= step + 1


def test_a_scale_compresses_time_but_never_below_one_second() -> None:
    rng = random.Random(3)
    assert retry_delay_s(1, rng, scale=0.001) == 1
    assert retry_delay_s(30, rng, scale=0.01) <= MAX_DELAY_S * 0.01 + 1


def test_the_receive_budget_outlasts_a_day_long_outage_even_at_the_shortest_jitter() -> None:
    assert outage_budget_s(MAX_RECEIVES) > 24 * 3600

    # And the budget really is the sum of the shortest delays a message could get.
    class Shortest(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return a

    shortest = sum(retry_delay_s(n, Shortest()) for n in range(1, MAX_RECEIVES))
    assert abs(shortest - outage_budget_s(MAX_RECEIVES)) < MAX_RECEIVES


def test_a_failed_lane_comes_back_together_after_its_first_messages_backoff() -> None:
    def message(n: int, group: str, receives: int) -> InboundMessage:
        body = encode_intents([SyncProfile(f"sync-{n}", MEMBER)])
        return InboundMessage(f"m{n}", group, body, receives, receipt_handle=f"r{n}")

    messages = [message(1, "lane-001", 7), message(2, "lane-001", 2), message(3, "lane-002", 1)]
    visibility = FakeVisibility()
    outcome = process_track_batch(
        messages,
        reader=FakeReader({}),
        sender=FakeSender(raise_error=ServerError(503, "down")),
        dead_letters=FakeDeadLetters(),
        deadline=None,
        redelivery=Redelivery(visibility, rng=random.Random(5)),
    )
    assert outcome.failed_message_ids == ["m1", "m2", "m3"]
    delays = dict(visibility.postponed)
    assert delays["r1"] == delays["r2"]  # one lane, one delay: FIFO holds the group while any is in flight
    assert delays["r1"] >= BASE_DELAY_S * 2**6 / 2  # the lane's first message had failed 7 times
    assert delays["r3"] <= BASE_DELAY_S


def test_the_last_receive_parks_instead_of_coming_back() -> None:
    redelivery = Redelivery(FakeVisibility(), max_receives=MAX_RECEIVES)
    assert not redelivery.is_last_receive(MAX_RECEIVES - 1)
    assert redelivery.is_last_receive(MAX_RECEIVES)


def test_one_park_or_retry_rule_for_every_consumer() -> None:
    """Track and email both ask `park_reason`: what cannot succeed parks at once, what may pass comes back
    until its last allowed receive, which parks saying how many receives it took."""
    rule = Redelivery(FakeVisibility(), max_receives=5)
    assert rule.park_reason(1, "Customer.io: 400 bad", retryable=False) == "Customer.io: 400 bad"
    assert rule.park_reason(4, "Customer.io: 503") is None
    assert rule.park_reason(5, "Customer.io: 503") == "gave up after 5 receives: Customer.io: 503"
