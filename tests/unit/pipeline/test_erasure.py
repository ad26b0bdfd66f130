"""Erasure that sticks (issue 22, point 6): from the member table's stream record, through the stream and
track functions with fakes, to the operations Customer.io receives."""

from __future__ import annotations

from typing import Any

from cio_sync.customerio.batch import Delete, Identify, Operation, Suppression
from cio_sync.members.subscriptions import deletion_request, sms_signup, web_signup
from cio_sync.pipeline.messages import InboundMessage, encode_intents
from cio_sync.pipeline.redelivery import Redelivery
from cio_sync.pipeline.track_consumer import TrackBatchOutcome, process_track_batch
from cio_sync.sync.intents import SyncProfile, parse_intent

from .fakes import (
    FakeDeadLetters,
    FakePending,
    FakePublisher,
    FakeReader,
    FakeSender,
    FakeVisibility,
    FakeWriter,
    process_raw,
    stream_record,
)

MEMBER = "5f0c8e2a9b1d4c3e2f1a0b9c"
SIGNED_UP = "2026-11-26T10:00:00.000000Z"
DELETION = "2026-11-27T10:00:00.000000Z"
SIGNED_UP_AGAIN = "2026-11-28T10:00:00.000000Z"


def signed_up() -> dict[str, Any]:
    return web_signup({"id": MEMBER, "email": "someone@example.org"}, SIGNED_UP)


def track(
    messages: list[InboundMessage], table: dict[str, dict[str, Any]]
) -> tuple[list[Operation], TrackBatchOutcome]:
    """The track function on `messages`, reading `table` as the member table holds it at send time."""
    sender = FakeSender()
    outcome = process_track_batch(
        messages,
        reader=FakeReader(table),
        sender=sender,
        dead_letters=FakeDeadLetters(),
        deadline=None,
        redelivery=Redelivery(FakeVisibility(), max_receives=5),
        clock=lambda: 1_790_000_000.0,
    )
    return [operation for request in sender.sent for operation in request], outcome


def sync_through_the_pipeline(
    old: dict[str, Any] | None, new: dict[str, Any] | None, table: dict[str, dict[str, Any]]
) -> tuple[list[Operation], TrackBatchOutcome]:
    """The stream function on the write old -> new, then the track function on what it published, reading
    `table` as the member table holds it at send time."""
    publisher = FakePublisher()
    process_raw([stream_record(old, new)], FakeWriter(), FakePending(), publisher, 4)
    messages = [
        InboundMessage(f"m{n}", message.lane, encode_intents(message.intents), 1)
        for n, message in enumerate(publisher.track)
    ]
    return track(messages, table)


def test_a_deletion_request_deletes_then_suppresses_the_person() -> None:
    deleted = deletion_request(signed_up(), DELETION)
    operations, outcome = sync_through_the_pipeline(signed_up(), deleted, {MEMBER: deleted})
    assert operations == [Delete(MEMBER), Suppression(MEMBER, suppress=True)]
    assert outcome.deletes == 1
    assert not outcome.failed_message_ids


def test_a_purged_item_deletes_then_suppresses_the_person() -> None:
    operations, _ = sync_through_the_pipeline(signed_up(), None, {})
    assert operations == [Delete(MEMBER), Suppression(MEMBER, suppress=True)]


def test_a_missing_member_the_stream_did_not_purge_is_only_deleted() -> None:
    """An orphan profile (the sweep's or an operator's sync) is no erasure: the id stays free to return."""
    message = InboundMessage("m0", "lane-000", encode_intents([SyncProfile("sweep-1", MEMBER)]), 1)
    operations, _ = track([message], {})
    assert operations == [Delete(MEMBER)]


def test_a_sign_up_after_a_deletion_request_unsuppresses_before_the_identify() -> None:
    deleted = deletion_request(signed_up(), DELETION)
    again = web_signup({**deleted, "email_subscription_topics": []}, SIGNED_UP_AGAIN)
    assert again["deletion_requested_at"] == DELETION  # the item still shows the request
    operations, outcome = sync_through_the_pipeline(deleted, again, {MEMBER: again})
    assert operations[0] == Suppression(MEMBER, suppress=False)
    assert isinstance(operations[1], Identify)  # every operation for the person comes after the unsuppress
    identifies = [operation for operation in operations if isinstance(operation, Identify)]
    assert any(identify.attributes.get("email") == "someone@example.org" for identify in identifies)
    assert Delete(MEMBER) not in operations
    assert outcome.upserts == 1


def test_an_ordinary_member_is_neither_suppressed_nor_unsuppressed() -> None:
    member = signed_up()
    changed = {**member, "first_name": "Ada", "updated_at": "2026-11-27T10:00:00.000000Z"}
    operations, _ = sync_through_the_pipeline(member, changed, {MEMBER: changed})
    assert operations
    assert not any(isinstance(operation, Suppression) for operation in operations)


def test_a_sign_up_under_an_id_purged_before_unsuppresses_before_the_identify() -> None:
    """A purge suppressed the id; a new item under it (no deletion request on it) must reach Customer.io."""
    member = signed_up()
    operations, _ = sync_through_the_pipeline(None, member, {MEMBER: member})
    assert isinstance(operations[0], Suppression)
    assert operations[0].suppress is False


def test_a_member_recreated_ineligible_under_a_purged_id_is_unsuppressed_when_they_subscribe() -> None:
    """Review of issue 22, F5: unsuppressed only when eligible at the item's creation, a member created
    ineligible who subscribed later was never unsuppressed: every identify refused."""
    created = {**sms_signup({"id": MEMBER, "mobile": "+15555550123"}, SIGNED_UP), "mobile": None}
    subscribed = {**created, "mobile": "+15555550123", "updated_at": SIGNED_UP_AGAIN}
    operations, _ = sync_through_the_pipeline(created, subscribed, {MEMBER: subscribed})
    assert operations[0] == Suppression(MEMBER, suppress=False)
    assert isinstance(operations[1], Identify)


def test_the_purge_intent_is_replayed_identically_and_old_messages_still_parse() -> None:
    """Deterministic: the same record gives the same intent; a sync queued before `erase` existed reads."""
    first, second = (stream_record(signed_up(), None) for _ in range(2))
    second["eventID"] = first["eventID"]
    intents = []
    for record in (first, second):
        publisher = FakePublisher()
        process_raw([record], FakeWriter(), FakePending(), publisher, 4)
        intents.append([intent for message in publisher.track for intent in message.intents])
    assert intents[0] == intents[1]
    assert intents[0][0] == SyncProfile(intents[0][0].intent_id, MEMBER, erase=True)
    assert parse_intent(intents[0][0].to_json()) == intents[0][0]
    plain = SyncProfile("sweep-1", MEMBER)
    assert "erase" not in plain.to_json()
    assert parse_intent(plain.to_json()) == plain


def test_a_purge_received_again_after_the_id_signed_up_again_unsuppresses_before_its_identify() -> None:
    """Its first receive suppressed the person (or may still, late): the new member's identify needs the
    suppression lifted first (a purge sent after the re-sign-up is restored at once: test_erasure_restore)."""
    again = web_signup({"id": MEMBER, "email": "someone@example.org"}, SIGNED_UP_AGAIN)
    message = InboundMessage(
        "m0", "lane-000", encode_intents([SyncProfile("purge-1", MEMBER, erase=True)]), 2
    )
    operations, _ = track([message], {MEMBER: again})
    assert operations[0] == Suppression(MEMBER, suppress=False)
    assert isinstance(operations[1], Identify)
