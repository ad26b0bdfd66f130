from collections.abc import Mapping, Sequence
from typing import Any

from cio_sync.customerio.batch import Delete, Event, Identify, Operation
from cio_sync.customerio.errors import InvalidRequest, ServerError
from cio_sync.members.errors import UnreadableMembers
from cio_sync.members.subscriptions import web_signup
from cio_sync.pipeline.consent_identify import OPT_OUT_VALUES, PREFERENCES_PREFIX
from cio_sync.pipeline.messages import InboundMessage, encode_intents
from cio_sync.pipeline.redelivery import Redelivery
from cio_sync.pipeline.track_consumer import process_track_batch
from cio_sync.sync.intents import Intent, SyncProfile, TrackEvent, deterministic_event_id
from cio_sync_local.emulator.state import EmulatorState
from tests.observability import captured_logs

from .fakes import FakeDeadLetters, FakeReader, FakeSender, FakeVisibility

NOW = "2026-11-26T10:00:00.000000Z"
MAX_RECEIVES = 5


def member(**fields: Any) -> dict[str, Any]:
    return web_signup({"email": "someone@example.org", **fields}, NOW)


def message(n: int, *intents: Intent, group: str = "lane-000", receives: int = 1) -> InboundMessage:
    return InboundMessage(f"m{n}", group, encode_intents(intents), receives)


def sync(member_id: str, n: int = 0) -> SyncProfile:
    return SyncProfile(f"sync-{member_id}-{n}", member_id)


def resubscribed(member_id: str) -> TrackEvent:
    return TrackEvent(
        deterministic_event_id(member_id, 1_790_000_000_000),
        member_id,
        "promotions_resubscribe",
        {},
        1_790_000_000,
    )


def main_operations(operations: Sequence[Operation]) -> list[Operation]:
    """Without the identifies that carry only consent attributes (tests/unit/pipeline/test_consent.py)."""
    return [
        op
        for op in operations
        if not (
            isinstance(op, Identify)
            and all(name in OPT_OUT_VALUES or name.startswith(PREFERENCES_PREFIX) for name in op.attributes)
        )
    ]


def run(messages: list[InboundMessage], members: dict[str, dict[str, Any]], sender: FakeSender | None = None):  # type: ignore[no-untyped-def]
    sender = sender or FakeSender()
    dead = FakeDeadLetters()
    outcome = process_track_batch(
        messages,
        reader=FakeReader(members),
        sender=sender,
        dead_letters=dead,
        deadline=None,
        redelivery=Redelivery(FakeVisibility(), max_receives=MAX_RECEIVES),
    )
    return outcome, sender, dead


def test_eligible_member_is_identified_with_the_current_payload() -> None:
    alive = member()
    outcome, sender, _ = run([message(1, sync(alive["id"]))], {alive["id"]: alive})
    (operation,) = main_operations(sender.sent[0])
    assert isinstance(operation, Identify)
    assert operation.attributes["email"] == "someone@example.org"
    assert outcome.upserts == 1


def test_missing_or_muted_members_are_deleted_whatever_the_message_said() -> None:
    muted = {**member(), "promotions_muted_at": NOW}
    gone = "a" * 24
    outcome, sender, _ = run([message(1, sync(muted["id"]), sync(gone))], {muted["id"]: muted})
    assert sender.sent[0] == [Delete(muted["id"]), Delete(gone)]
    assert outcome.deletes == 2


def test_event_follows_the_identify_and_repeated_syncs_collapse() -> None:
    alive = member()
    mid = alive["id"]
    messages = [message(1, sync(mid, 1), resubscribed(mid)), message(2, sync(mid, 2))]
    _, sender, _ = run(messages, {mid: alive})
    assert [type(op) for op in main_operations(sender.sent[0])] == [Identify, Event]


def test_event_for_an_ineligible_member_is_skipped_not_sent() -> None:
    muted = {**member(), "promotions_muted_at": NOW}
    outcome, sender, _ = run([message(1, resubscribed(muted["id"]))], {muted["id"]: muted})
    assert sender.sent == []
    assert outcome.skipped == {"event_member_not_eligible": 1}


def test_many_messages_share_one_batch_request() -> None:
    members = [member() for _ in range(30)]
    messages = [message(n, sync(m["id"]), group=f"lane-{n % 3:03d}") for n, m in enumerate(members)]
    outcome, sender, _ = run(messages, {m["id"]: m for m in members})
    assert len(sender.sent) == 1
    assert len(main_operations(sender.sent[0])) == 30
    assert outcome.failed_message_ids == []


def test_permanent_rejection_dead_letters_only_that_member() -> None:
    good, bad = member(), member()
    sender = FakeSender(failures={bad["id"]: InvalidRequest(400, "attribute too long")})
    outcome, _, dead = run(
        [message(1, sync(good["id"]), sync(bad["id"]))], {good["id"]: good, bad["id"]: bad}, sender
    )
    assert outcome.failed_message_ids == []
    assert outcome.upserts == 1
    assert len(dead.parked) == 1
    body, reason = dead.parked[0]
    assert bad["id"] in body
    assert "400" in reason or "attribute too long" in reason


def test_retryable_failure_fails_the_message_and_later_ones_of_its_group() -> None:
    a, b, c = member(), member(), member()
    sender = FakeSender(failures={a["id"]: ServerError(503, "unavailable")})
    messages = [
        message(1, sync(a["id"]), group="lane-001"),
        message(2, sync(b["id"]), group="lane-001"),
        message(3, sync(c["id"]), group="lane-002"),
    ]
    outcome, _, _ = run(messages, {m["id"]: m for m in (a, b, c)}, sender)
    assert outcome.failed_message_ids == ["m1", "m2"]


def test_whole_batch_failure_returns_every_message() -> None:
    a = member()
    sender = FakeSender(raise_error=ServerError(502, "bad gateway"))
    outcome, _, _ = run(
        [message(1, sync(a["id"])), message(2, sync(a["id"]), group="lane-009")], {a["id"]: a}, sender
    )
    assert outcome.failed_message_ids == ["m1", "m2"]


def test_last_receive_parks_with_its_reason_instead_of_failing() -> None:
    a = member()
    sender = FakeSender(failures={a["id"]: ServerError(503, "unavailable")})
    outcome, _, dead = run([message(1, sync(a["id"]), receives=MAX_RECEIVES)], {a["id"]: a}, sender)
    assert outcome.failed_message_ids == []
    assert "gave up after 5 receives" in dead.parked[0][1]


def test_malformed_message_is_dead_lettered_with_a_reason() -> None:
    outcome, sender, dead = run([InboundMessage("m1", "lane-000", "{not json", 1)], {})
    assert outcome.failed_message_ids == []
    assert sender.sent == []
    assert dead.parked[0][1].startswith("malformed: ")


def test_an_ineligible_member_is_deleted_even_if_its_item_would_break_a_limit() -> None:
    muted = {**member(source_detail="x" * 1500), "promotions_muted_at": NOW}
    _, sender, dead = run([message(1, sync(muted["id"]))], {muted["id"]: muted})
    assert sender.sent == [[Delete(muted["id"])]]
    assert dead.parked == []


def test_an_attribute_that_breaks_a_rule_is_degraded_and_reported_never_parking_the_member() -> None:
    good = member()
    over_limit = member(source_detail="x" * 1500)
    broken = {**member(), "birthdate": "not-a-date"}  # a raw write that breaks the contract
    members = {m["id"]: m for m in (good, over_limit, broken)}
    messages = [message(1, sync(good["id"])), message(2, sync(over_limit["id"]), sync(broken["id"]))]
    with captured_logs() as logs:
        outcome, sender, dead = run(messages, members)
    assert (outcome.failed_message_ids, dead.parked) == ([], [])
    sent: dict[str, dict[str, Any]] = {}
    for op in sender.sent[0]:
        if isinstance(op, Identify):  # a member's identifies together (consent ones included)
            sent.setdefault(op.member_id, {}).update(op.attributes)
    assert sent[over_limit["id"]]["source_detail"] == "x" * 1000
    assert sent[broken["id"]]["birthdate"] is None
    assert all(attributes["email_subscription_status"] is True for attributes in sent.values())
    reported = {
        (e["attribute"], e["member_id"]) for e in logs.entries if e["message"] == "profile attribute degraded"
    }
    assert reported == {("source_detail", over_limit["id"]), ("birthdate", broken["id"])}
    assert "x" * 20 not in logs.text
    assert "not-a-date" not in logs.text


def test_an_unreadable_stored_item_is_parked_and_the_others_go_on() -> None:
    good, corrupt = member(), member()

    class Reader:
        def get_many(self, member_ids: Sequence[str]) -> Mapping[str, dict[str, Any]]:
            raise UnreadableMembers({good["id"]: good}, [corrupt["id"]])

    sender, dead = FakeSender(), FakeDeadLetters()
    outcome = process_track_batch(
        [message(1, sync(good["id"]), sync(corrupt["id"]))],
        reader=Reader(),
        sender=sender,
        dead_letters=dead,
        deadline=None,
        redelivery=Redelivery(FakeVisibility(), max_receives=MAX_RECEIVES),
    )
    assert outcome.failed_message_ids == []
    assert [op.member_id for op in main_operations(sender.sent[0])] == [good["id"]]
    assert dead.parked[0][1] == "stored item does not match the contract"


def sent_identify(item: dict[str, Any], now_s: float) -> Identify:
    """The main identify the track function sends for `item` when its clock reads `now_s`."""
    sender = FakeSender()
    process_track_batch(
        [message(1, sync(item["id"]))],
        reader=FakeReader({item["id"]: item}),
        sender=sender,
        dead_letters=FakeDeadLetters(),
        deadline=None,
        redelivery=Redelivery(FakeVisibility(), max_receives=MAX_RECEIVES),
        clock=lambda: now_s,
    )
    (operation,) = main_operations(sender.sent[0])
    assert isinstance(operation, Identify)
    return operation


def applied(*identifies: Identify) -> dict[str, Any]:
    """What Customer.io holds once it has applied these identifies in this order (the emulator's rule:
    an attribute last changed by a later timestamp keeps its value)."""
    workspace = EmulatorState(clock=lambda: SEND_S)
    for operation in identifies:
        workspace.identify(operation.member_id, operation.attributes, timestamp=operation.timestamp)
    return dict(workspace.profiles[identifies[0].member_id].attributes)


SEND_S = 1_795_690_000  # 2026-11-26T10:46:40Z, after every updated_at below


def test_identify_timestamp_is_the_send_time_in_whole_seconds() -> None:
    alive = {**member(), "updated_at": "2026-11-26T10:00:07.900000Z"}
    assert sent_identify(alive, SEND_S + 0.9).timestamp == SEND_S


def test_a_write_from_a_clock_behind_still_reaches_customer_io() -> None:
    """Issue 21: the later write is stamped a minute earlier; Customer.io must not drop its unsubscribe."""
    first = {**member(), "updated_at": "2026-11-26T10:00:07.000000Z"}
    behind = {**first, "email_subscription_topics": ["news"], "updated_at": "2026-11-26T09:59:07.000000Z"}
    held = applied(sent_identify(first, SEND_S), sent_identify(behind, SEND_S + 5))
    assert held["community_email_subscription_status"] is False


def test_a_retried_request_that_restores_an_earlier_write_reaches_customer_io() -> None:
    """W1, W2, then W1's retried request lands again with its own stamp: the item holds W1, so must the
    profile."""
    w1 = {**member(first_name="Ada"), "updated_at": "2026-11-26T10:00:00.000000Z"}
    w2 = {**w1, "first_name": "Grace", "updated_at": "2026-11-26T10:00:05.000000Z"}
    held = applied(sent_identify(w1, SEND_S), sent_identify(w2, SEND_S + 1), sent_identify(w1, SEND_S + 2))
    assert held["first_name"] == "Ada"


def test_a_200_applied_late_never_wins_over_a_later_send() -> None:
    """Customer.io answered 200 for the first sync but applies it after the second (from a writer behind)."""
    first = {**member(first_name="Ada"), "updated_at": "2026-11-26T10:00:07.000000Z"}
    later = {**first, "first_name": "Grace", "updated_at": "2026-11-26T09:59:58.000000Z"}
    early, late = sent_identify(first, SEND_S), sent_identify(later, SEND_S + 3)
    assert applied(late, early)["first_name"] == "Grace"
    assert applied(early, late)["first_name"] == "Grace"


def test_an_identify_timestamp_is_never_later_than_now() -> None:
    """A writer whose clock ran a year ahead must not make Customer.io drop every truthful update."""
    ahead = {**member(), "updated_at": "2027-11-26T10:00:07.900000Z"}
    sender = FakeSender()
    process_track_batch(
        [message(1, sync(ahead["id"]))],
        reader=FakeReader({ahead["id"]: ahead}),
        sender=sender,
        dead_letters=FakeDeadLetters(),
        deadline=None,
        redelivery=Redelivery(FakeVisibility(), max_receives=MAX_RECEIVES),
        clock=lambda: 1_795_687_300.5,
    )
    (operation,) = main_operations(sender.sent[0])
    assert isinstance(operation, Identify)
    assert operation.timestamp == 1_795_687_300
