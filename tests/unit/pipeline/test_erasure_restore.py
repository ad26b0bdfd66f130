"""A purge and a sign-up under the same id racing (review of issue 21): the restore after a late purge is
stamped before its read, a restore Customer.io refuses sends back only its own member's message, and the
sweep's re-create of a missing profile unsuppresses first. Through the track function with fakes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cio_sync.customerio.batch import BatchResult, Event, Identify, Operation, Suppression
from cio_sync.customerio.errors import PermanentError
from cio_sync.members.subscriptions import sms_signup, web_signup
from cio_sync.pipeline.messages import InboundMessage, encode_intents
from cio_sync.pipeline.redelivery import Redelivery
from cio_sync.pipeline.sweep_plan import sweep_intent
from cio_sync.pipeline.track_consumer import TrackBatchOutcome, process_track_batch
from cio_sync.sync.intents import SyncProfile, TrackEvent

from .fakes import FakeDeadLetters, FakeReader, FakeSender, FakeVisibility

MEMBER = "5f0c8e2a9b1d4c3e2f1a0b9c"
OTHER = "5f0c8e2a9b1d4c3e2f1a0b9d"
SIGNED_UP = "2026-11-28T10:00:00.000000Z"
READ_AT = 1_790_000_000.3  # the restore's read sees the member as of this moment


class Clock:
    now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


class PurgeReadFirst(FakeReader):
    """The first read is the purge's (MEMBER missing); later reads see the member signed up again, and
    return a second late (a throttled, retried read)."""

    def __init__(self, members: dict[str, dict[str, Any]], clock: Clock) -> None:
        super().__init__(members)
        self.clock = clock

    def get_many(self, member_ids: Sequence[str]) -> Mapping[str, dict[str, Any]]:
        first = self.reads == 0
        found = dict(super().get_many(member_ids))
        if first:
            found.pop(MEMBER, None)
        else:
            self.clock.now = READ_AT + 1.0
        return found


class RestoreRefused(FakeSender):
    """Customer.io takes the batch; the restore's identify gets a 207 item error."""

    def send_batch(self, operations: Sequence[Operation], deadline: float | None) -> BatchResult:
        self.sent.append(list(operations))
        if len(self.sent) == 1:
            return BatchResult(len(operations), {})
        return BatchResult(len(operations), {1: PermanentError(400, "invalid attribute")})


def track(
    messages: list[InboundMessage], table: dict[str, dict[str, Any]], sender: FakeSender, clock: Clock
) -> tuple[TrackBatchOutcome, FakeDeadLetters]:
    dead = FakeDeadLetters()
    outcome = process_track_batch(
        messages,
        reader=PurgeReadFirst(table, clock),
        sender=sender,
        dead_letters=dead,
        deadline=None,
        redelivery=Redelivery(FakeVisibility(), max_receives=5),
        clock=clock,
    )
    return outcome, dead


def purge(receive_count: int = 1) -> InboundMessage:
    return InboundMessage(
        "m0", "lane-000", encode_intents([SyncProfile("purge-1", MEMBER, erase=True)]), receive_count
    )


def test_the_restore_is_stamped_no_later_than_its_read() -> None:
    """An opt-out identify stamped after the read could be later than an opt-in the read did not see; that
    opt-in's identify would then be dropped by Customer.io for good."""
    sender = FakeSender()
    track(
        [purge()], {MEMBER: sms_signup({"id": MEMBER, "mobile": "+15555550123"}, SIGNED_UP)}, sender, Clock()
    )
    restore = sender.sent[-1]
    assert restore[0] == Suppression(MEMBER, suppress=False)
    identifies = [operation for operation in restore if isinstance(operation, Identify)]
    assert identifies
    assert all(i.timestamp is not None and i.timestamp <= int(READ_AT) for i in identifies)


def test_a_refused_restore_sends_back_only_its_own_members_message() -> None:
    table = {
        MEMBER: web_signup({"id": MEMBER, "email": "a@example.org"}, SIGNED_UP),
        OTHER: web_signup({"id": OTHER, "email": "b@example.org"}, SIGNED_UP),
    }
    event = TrackEvent("ev-1", OTHER, "signed_in", {}, 1_790_000_000)
    for receive_count in (1, 5):
        sender = RestoreRefused()
        other = InboundMessage("m1", "lane-001", encode_intents([event]), receive_count)
        outcome, dead = track([purge(receive_count), other], table, sender, Clock())
        assert any(isinstance(op, Event) and op.member_id == OTHER for op in sender.sent[0])
        assert "m1" not in outcome.failed_message_ids
        assert not any(OTHER in body for body, _ in dead.parked)
        assert receive_count == 5 or "m0" in outcome.failed_message_ids  # comes back until its last receive


def test_the_sweeps_re_create_of_a_missing_profile_unsuppresses_first() -> None:
    """A purged id signed up again whose sign-up sync was lost: the sweep finds the profile missing; a plain
    sync would identify a suppressed person, refused on every sweep."""
    again = web_signup({"id": MEMBER, "email": "a@example.org"}, SIGNED_UP)
    sender = FakeSender()
    message = InboundMessage("m0", "lane-000", encode_intents([sweep_intent("run-1", MEMBER, True)]), 1)
    process_track_batch(
        [message],
        reader=FakeReader({MEMBER: again}),
        sender=sender,
        dead_letters=FakeDeadLetters(),
        deadline=None,
        redelivery=Redelivery(FakeVisibility(), max_receives=5),
        clock=lambda: 1_790_000_000.0,
    )
    operations = [operation for request in sender.sent for operation in request]
    assert operations[0] == Suppression(MEMBER, suppress=False)
    assert isinstance(operations[1], Identify)
