from typing import Any

import pytest

from cio_sync.handlers.stream_batch import MalformedRecord, parse_change
from cio_sync.members.contract import is_member_id
from cio_sync.members.subscriptions import sms_signup, web_signup
from cio_sync.sync.intents import SendEmail, SyncProfile, TrackEvent

from .fakes import FakePending, FakePublisher, FakeWriter, process_raw, stream_record

NOW = "2026-11-26T10:00:00.000000Z"
LANES = 4


RECORD_TIME = "2026-09-21T14:13:20.000000Z"  # stream_record's default creation time


def member(**fields: Any) -> dict[str, Any]:
    return web_signup({"email": "someone@example.org", "first_name": "Ada", **fields}, NOW)


def test_web_signup_becomes_one_sync_intent_in_its_lane() -> None:
    new = member()
    publisher = FakePublisher()
    result = process_raw([stream_record(None, new)], FakeWriter(), FakePending(), publisher, LANES)
    assert result.failed_sequence_numbers == []
    assert len(publisher.track) == 1
    (intent,) = publisher.track[0].intents
    assert isinstance(intent, SyncProfile)
    assert intent.member_id == new["id"]


def test_no_op_write_publishes_nothing() -> None:
    item = member()
    publisher = FakePublisher()
    result = process_raw([stream_record(item, dict(item))], FakeWriter(), FakePending(), publisher, LANES)
    assert (result.intents, publisher.track, publisher.emails) == (0, [], [])


def test_raw_unsubscribe_from_both_gets_the_mute_written_back_conditionally() -> None:
    old = member()
    raw = {**old, "email_subscription_status": False, "email_subscription_topics": []}
    writer = FakeWriter()
    process_raw(
        [stream_record(old, raw, created_s=1_790_000_123)], writer, FakePending(), FakePublisher(), LANES
    )
    # The record's own time, so a replay decides the same value.
    at = "2026-09-21T14:15:23.000000Z"
    assert writer.decisions == [(old["id"], {"promotions_muted_at": at, "email_opt_out_at": at})]


def test_raw_resubscribe_of_a_muted_member_unmutes() -> None:
    muted = {
        **member(),
        "email_subscription_status": False,
        "email_subscription_topics": [],
        "promotions_muted_at": NOW,
    }
    raw = {**muted, "email_subscription_topics": ["news"]}
    writer = FakeWriter()
    process_raw([stream_record(muted, raw)], writer, FakePending(), FakePublisher(), LANES)
    # The opt-in is stamped with the record's own time (the stamp of its opt-in identify).
    assert writer.decisions == [
        (
            muted["id"],
            {"email_subscription_status": True, "promotions_muted_at": None, "email_opt_in_at": RECORD_TIME},
        )
    ]


def test_the_write_back_record_itself_decides_nothing_more() -> None:
    old = {**member(), "email_subscription_status": False, "email_subscription_topics": []}
    written_back = {**old, "promotions_muted_at": NOW}
    writer = FakeWriter()
    publisher = FakePublisher()
    process_raw([stream_record(old, written_back)], writer, FakePending(), publisher, LANES)
    assert writer.decisions == []


def test_unmute_yields_sync_then_resubscribe_event_in_order() -> None:
    muted = {**member(), "promotions_muted_at": NOW}
    unmuted = {**muted, "promotions_muted_at": None}
    publisher = FakePublisher()
    process_raw([stream_record(muted, unmuted)], FakeWriter(), FakePending(), publisher, LANES)
    intents = publisher.track[0].intents
    assert [type(i) for i in intents] == [SyncProfile, TrackEvent]
    assert isinstance(intents[1], TrackEvent)
    assert intents[1].name == "promotions_resubscribe"


def test_password_change_goes_to_the_email_queue() -> None:
    old = member(password_updated_at="2026-01-01T00:00:00Z")
    new = {**old, "password_updated_at": NOW}
    publisher = FakePublisher()
    process_raw([stream_record(old, new)], FakeWriter(), FakePending(), publisher, LANES)
    assert [email.kind for email in publisher.emails] == ["password_updated"]
    assert all(isinstance(email, SendEmail) for email in publisher.emails)


def test_unparseable_record_is_parked_alone_and_the_rest_go_on() -> None:
    good = member()
    broken = stream_record(None, member())
    del broken["dynamodb"]["Keys"]
    publisher = FakePublisher()
    result = process_raw([broken, stream_record(None, good)], FakeWriter(), FakePending(), publisher, LANES)
    assert result.failed_sequence_numbers == []
    assert result.malformed == 1
    assert len(publisher.parked) == 1
    assert [i.member_id for m in publisher.track for i in m.intents] == [good["id"]]


def test_transient_failure_reports_that_record_and_stops() -> None:
    first, second = member(), member()
    raw = {**second, "email_subscription_status": False, "email_subscription_topics": []}
    records = [stream_record(None, first), stream_record(second, raw), stream_record(None, member())]
    publisher = FakePublisher()
    result = process_raw(records, FakeWriter(fail=True), FakePending(), publisher, LANES)
    assert result.failed_sequence_numbers == [records[1]["dynamodb"]["SequenceNumber"]]
    assert [i.member_id for m in publisher.track for i in m.intents] == [first["id"]]


def test_queue_outage_reports_the_earliest_record_whose_intents_did_not_go() -> None:
    records = [stream_record(None, member()), stream_record(None, member())]
    result = process_raw(records, FakeWriter(), FakePending(), FakePublisher(fail_track=True), LANES)
    assert result.failed_sequence_numbers == [records[0]["dynamodb"]["SequenceNumber"]]


def test_many_members_are_packed_per_lane_and_keep_their_order() -> None:
    members = [sms_signup({"mobile": f"+1555000{n:04d}"}, NOW) for n in range(200)]
    publisher = FakePublisher()
    process_raw([stream_record(None, m) for m in members], FakeWriter(), FakePending(), publisher, LANES)
    assert len(publisher.track) <= LANES
    delivered = [i.member_id for m in publisher.track for i in m.intents]
    assert sorted(delivered) == sorted(m["id"] for m in members)
    for message in publisher.track:
        positions = [[m["id"] for m in members].index(i.member_id) for i in message.intents]
        assert positions == sorted(positions)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda r: r.update(eventName="TRUNCATE"), "unknown eventName"),
        (lambda r: r["dynamodb"].pop("NewImage"), "no NewImage"),
        (lambda r: r["dynamodb"].update(Keys={"id": {"N": "5"}}), "no string id"),
        (lambda r: r["dynamodb"].pop("ApproximateCreationDateTime"), "no ApproximateCreationDateTime"),
    ],
)
def test_malformed_records_say_why(mutate: Any, reason: str) -> None:
    record = stream_record(None, member())
    mutate(record)
    with pytest.raises(MalformedRecord, match=reason):
        parse_change(record)


def test_raw_topics_without_status_get_the_status_the_rules_imply() -> None:
    unsubscribed = {**member(), "email_subscription_status": False, "email_subscription_topics": []}
    raw = {**unsubscribed, "email_subscription_topics": ["news"]}
    writer = FakeWriter()
    process_raw([stream_record(unsubscribed, raw)], writer, FakePending(), FakePublisher(), LANES)
    assert writer.decisions == [
        (raw["id"], {"email_subscription_status": True, "email_opt_in_at": RECORD_TIME})
    ]


def test_raw_unsubscribe_by_status_alone_clears_topics_and_mutes() -> None:
    old = member()
    raw = {**old, "email_subscription_status": False}
    writer = FakeWriter()
    process_raw([stream_record(old, raw)], writer, FakePending(), FakePublisher(), LANES)
    ((_, decided),) = writer.decisions
    assert decided["email_subscription_topics"] == []
    assert decided["promotions_muted_at"] is not None


# --- records that break the contract: parked at once, the records behind them flow on ---------------

GOOD_EMAIL_TOPIC = {"email_subscription_topics": ["news"]}
POISON: dict[str, Any] = {
    "id not 24 hex characters": {"id": "legacy-42"},
    "email status not a boolean": {"email_subscription_status": "yes"},
    "email topics a number": {"email_subscription_topics": 7},
    "email topics unknown": {"email_subscription_topics": ["spam"]},
    "sms status a list": {"sms_status": ["active"]},
    "sms status unknown": {"sms_status": "maybe"},
    "sms topics a string": {"sms_subscription_topics": "general"},
    "mute not a timestamp": {"promotions_muted_at": "yesterday"},
    "mute a number": {"promotions_muted_at": 1700000000},
}


def _poisoned(shape: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    old = member()
    return old, {**old, **shape, "updated_at": "2026-11-26T10:00:01.000000Z"}


@pytest.mark.parametrize("position", ["first", "middle", "last"])
@pytest.mark.parametrize("shape", sorted(POISON))
def test_a_poison_record_is_parked_with_its_reason_and_good_ones_flow_on(shape: str, position: str) -> None:
    old, bad = _poisoned(POISON[shape])
    poison = stream_record(old, bad)
    goods = [member() for _ in range(3)]
    good_records = [stream_record(None, m) for m in goods]
    signup_resubscribe_old = {**member(), "email_subscription_status": False, "promotions_muted_at": NOW}
    good_records.append(stream_record(signup_resubscribe_old, {**signup_resubscribe_old, **GOOD_EMAIL_TOPIC}))
    where = {"first": 0, "middle": 2, "last": len(good_records)}[position]
    records = [*good_records[:where], poison, *good_records[where:]]
    publisher, writer = FakePublisher(), FakeWriter()

    result = process_raw(records, writer, FakePending(), publisher, LANES)

    assert result.failed_sequence_numbers == []
    assert result.contract_violations == 1
    (reason,) = publisher.parked
    field = next(iter(POISON[shape]))
    assert "breaks the member contract" in reason
    assert repr(field) in reason
    assert "legacy-42" not in reason
    # The good records flow on; a member whose record was parked is still synced to its current item
    # (the track function deletes, identifies or parks it), unless the key is not a member id at all.
    resynced = {bad["id"]} if is_member_id(bad["id"]) else set()
    assert set(publisher.member_ids()) == {m["id"] for m in goods} | resynced
    # The resubscribe behind (or before) the poison is still decided and written back.
    assert writer.decisions == [
        (
            signup_resubscribe_old["id"],
            {"email_subscription_status": True, "promotions_muted_at": None, "email_opt_in_at": RECORD_TIME},
        )
    ]


def test_an_unrelated_invalid_attribute_does_not_stop_the_mute() -> None:
    old = {**member(), "mobile": "5555550123"}  # a legacy number without "+"
    raw = {**old, "email_subscription_status": False}
    writer, publisher = FakeWriter(), FakePublisher()
    result = process_raw([stream_record(old, raw)], writer, FakePending(), publisher, LANES)
    assert result.contract_violations == 0
    ((_, decided),) = writer.decisions
    assert decided["promotions_muted_at"] is not None
    assert publisher.member_ids() == [old["id"]]


def test_an_unexpected_error_on_one_record_parks_it_and_the_rest_flow_on() -> None:
    class ExplodingWriter(FakeWriter):
        def write_rule_decisions(self, member_id: str, expected: Any, decided: Any) -> bool:
            if member_id == victim["id"]:
                raise KeyError("a bug, not the data")
            return super().write_rule_decisions(member_id, expected, decided)

    victim, other = member(), member()
    records = [
        stream_record(victim, {**victim, "email_subscription_status": False}),
        stream_record(None, other),
    ]
    publisher = FakePublisher()
    result = process_raw(records, ExplodingWriter(), FakePending(), publisher, LANES)
    assert result.failed_sequence_numbers == []
    assert publisher.parked == ["cannot be handled: its rules' decision could not be written (KeyError)"]
    assert sorted(publisher.member_ids()) == sorted([victim["id"], other["id"]])  # the victim resynced


def test_pending_decisions_that_cannot_be_read_retry_the_batch() -> None:
    records = [stream_record(member(), member()), stream_record(None, member())]
    result = process_raw(records, FakeWriter(), FakePending(fail=True), FakePublisher(), LANES)
    assert result.failed_sequence_numbers == [records[0]["dynamodb"]["SequenceNumber"]]


def test_a_poison_record_is_parked_once_even_when_the_batch_is_retried_before_it() -> None:
    """A retry starting at or before a parked record parks it then; parking it now too would count it
    (and alarm) once per retry."""
    old, bad = _poisoned(POISON["sms status a list"])
    good = member()
    records = [stream_record(None, good), stream_record(old, bad)]
    publisher = FakePublisher(fail_track=True)  # the good record's intents do not go: retry from it
    result = process_raw(records, FakeWriter(), FakePending(), publisher, LANES)
    assert result.failed_sequence_numbers == [records[0]["dynamodb"]["SequenceNumber"]]
    assert publisher.parked == []
    assert result.contract_violations == 0
    retried = FakePublisher()
    result = process_raw(records, FakeWriter(), FakePending(), retried, LANES)
    assert result.failed_sequence_numbers == []
    assert len(retried.parked) == 1


def test_the_write_that_repairs_a_poisoned_item_is_decided_and_synced() -> None:
    """Its old image breaks the contract, its new one does not: the repair goes through, and the member
    is synced to its current item (a mute set by the repair deletes the profile)."""
    item = member()
    poisoned = {**item, "promotions_muted_at": "yesterday"}
    repaired = {
        **poisoned,
        "promotions_muted_at": "2026-11-26T11:00:00.000000Z",
        "updated_at": "2026-11-26T11:00:00.000000Z",
    }
    publisher = FakePublisher()
    result = process_raw([stream_record(poisoned, repaired)], FakeWriter(), FakePending(), publisher, LANES)
    assert result.contract_violations == 0
    assert publisher.parked == []
    assert publisher.member_ids() == [item["id"]]


def test_a_key_that_is_not_a_member_id_is_never_logged_or_parked_as_it_is() -> None:
    from cio_sync.members.contract import safe_key  # noqa: PLC0415

    assert safe_key("5f0c8e2a9b1d4c3e2f1a0b9c") == "5f0c8e2a9b1d4c3e2f1a0b9c"
    hashed = safe_key("someone@example.org")
    assert hashed is not None
    assert hashed.startswith("sha256:")
    assert "example" not in hashed
