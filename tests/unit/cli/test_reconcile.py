"""Reconcile: deterministic intents, bounded lane messages, counts, progress, dry runs."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import pytest

from cio_sync.pipeline.messages import TrackMessage, decode_intents, lane_of
from cio_sync.sync.intents import SyncProfile
from cio_sync_cli.reconcile import (
    MAX_INTENTS_PER_MESSAGE,
    InvalidRunId,
    ReconcileSummary,
    check_run_id,
    new_run_id,
    reconcile,
    reconcile_messages,
    sync_intent,
)


def member_ids(count: int) -> list[str]:
    return [f"{index:024x}" for index in range(1, count + 1)]


class FakePublisher:
    def __init__(self, refuse: set[int] | None = None) -> None:
        self.batches: list[list[TrackMessage]] = []
        self._refuse = refuse or set()

    def publish_track(self, messages: Sequence[TrackMessage]) -> list[int]:
        self.batches.append(list(messages))
        call = len(self.batches) - 1
        return [0] if call in self._refuse else []

    @property
    def messages(self) -> list[TrackMessage]:
        return [message for batch in self.batches for message in batch]


def test_intent_ids_depend_only_on_the_run_and_the_member() -> None:
    first = sync_intent("run-1", "5f0c8e2a9b1d4c3e2f1a0b9c")
    assert first == SyncProfile(
        intent_id="run-1:5f0c8e2a9b1d4c3e2f1a0b9c", member_id="5f0c8e2a9b1d4c3e2f1a0b9c"
    )
    assert sync_intent("run-1", "5f0c8e2a9b1d4c3e2f1a0b9c") == first
    assert sync_intent("run-2", "5f0c8e2a9b1d4c3e2f1a0b9c") != first


def test_messages_keep_each_member_in_its_lane_and_stay_small() -> None:
    ids = member_ids(1000)
    messages = reconcile_messages("run", ids, lanes=2)
    assert all(len(message.intents) <= MAX_INTENTS_PER_MESSAGE for message in messages)
    per_lane = Counter(lane_of(member_id, 2) for member_id in ids)
    assert len(messages) == sum(math.ceil(count / MAX_INTENTS_PER_MESSAGE) for count in per_lane.values())
    for message in messages:
        assert {lane_of(intent.member_id, 2) for intent in message.intents} == {message.lane}
        assert decode_intents(message.body()) == list(message.intents)
    assert sorted(intent.member_id for message in messages for intent in message.intents) == ids
    # Deterministic: the same run sends the same deduplication ids, so SQS drops a replay.
    again = reconcile_messages("run", ids, lanes=2)
    assert [m.deduplication_id for m in again] == [m.deduplication_id for m in messages]


def test_reconcile_publishes_every_member_in_chunks_with_progress() -> None:
    publisher = FakePublisher()
    seen: list[tuple[int, int]] = []

    def progress(summary: ReconcileSummary) -> None:
        seen.append((summary.members, summary.messages))

    summary = reconcile(member_ids(250), publisher, run_id="run", lanes=1, progress=progress, chunk=100)
    assert (summary.members, summary.messages, summary.failed_messages, summary.dry_run) == (250, 3, 0, False)
    assert summary.complete
    assert [len(batch) for batch in publisher.batches] == [1, 1, 1]
    assert seen == [(100, 1), (200, 2), (250, 3)]
    assert summary.to_dict() == {
        "run_id": "run",
        "dry_run": False,
        "members": 250,
        "messages": 3,
        "failed_messages": 0,
        "failed_members": 0,
        "skipped_ids": 0,
    }


def test_ids_that_are_not_member_ids_are_skipped_and_counted() -> None:
    publisher = FakePublisher()
    summary = reconcile(["not-an-id", *member_ids(2), "ALSO-BAD"], publisher, run_id="run", lanes=4)
    assert (summary.members, summary.skipped_ids) == (2, 2)
    assert {intent.member_id for message in publisher.messages for intent in message.intents} == set(
        member_ids(2)
    )


def test_refused_messages_are_counted_with_their_members() -> None:
    publisher = FakePublisher(refuse={1})
    summary = reconcile(member_ids(30), publisher, run_id="run", lanes=1, chunk=10)
    assert (summary.failed_messages, summary.failed_members, summary.complete) == (1, 10, False)


def test_a_dry_run_counts_and_sends_nothing() -> None:
    summary = reconcile(member_ids(120), None, run_id="run", lanes=1)
    assert (summary.dry_run, summary.members, summary.messages) == (True, 120, 2)


def test_an_empty_table_sends_nothing() -> None:
    publisher = FakePublisher()
    summary = reconcile([], publisher, run_id="run", lanes=1)
    assert (summary.members, summary.messages, publisher.batches) == (0, 0, [])


def test_run_ids_are_short_safe_names() -> None:
    assert new_run_id(lambda: 1_795_000_000.0, lambda: "0a1b2c3d") == "reconcile-20261118T110640Z-0a1b2c3d"
    assert new_run_id(lambda: 1_795_000_000.0) != new_run_id(lambda: 1_795_000_000.0)  # two in one second
    assert check_run_id(new_run_id())
    assert check_run_id("after-outage_2") == "after-outage_2"
    for bad in ("", "has space", "colon:", "x" * 65):
        with pytest.raises(InvalidRunId):
            check_run_id(bad)
