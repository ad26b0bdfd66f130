from typing import Any

import pytest

from cio_sync.members.subscriptions import sms_signup, web_signup
from cio_sync.pipeline.member_stream import MalformedRecord, parse_change, process_stream_batch
from cio_sync.sync.intents import SendEmail, SyncProfile, TrackEvent

from .fakes import FakePublisher, FakeWriter, stream_record

NOW = "2026-11-26T10:00:00.000000Z"
LANES = 4


def member(**fields: Any) -> dict[str, Any]:
    return web_signup({"email": "someone@example.org", "first_name": "Ada", **fields}, NOW)


def test_web_signup_becomes_one_sync_intent_in_its_lane() -> None:
    new = member()
    publisher = FakePublisher()
    result = process_stream_batch([stream_record(None, new)], FakeWriter(), publisher, LANES)
    assert result.failed_sequence_numbers == []
    assert len(publisher.track) == 1
    (intent,) = publisher.track[0].intents
    assert isinstance(intent, SyncProfile)
    assert intent.member_id == new["id"]


def test_no_op_write_publishes_nothing() -> None:
    item = member()
    publisher = FakePublisher()
    result = process_stream_batch([stream_record(item, dict(item))], FakeWriter(), publisher, LANES)
    assert (result.intents, publisher.track, publisher.emails) == (0, [], [])


def test_raw_unsubscribe_from_both_gets_the_mute_written_back_conditionally() -> None:
    old = member()
    raw = {**old, "email_subscription_status": False, "email_subscription_topics": []}
    writer = FakeWriter()
    process_stream_batch([stream_record(old, raw, created_s=1_790_000_123)], writer, FakePublisher(), LANES)
    # The record's own time, so a replay decides the same value.
    assert writer.decisions == [(old["id"], {"promotions_muted_at": "2026-09-21T14:15:23.000000Z"})]


def test_raw_resubscribe_of_a_muted_member_unmutes() -> None:
    muted = {
        **member(),
        "email_subscription_status": False,
        "email_subscription_topics": [],
        "promotions_muted_at": NOW,
    }
    raw = {**muted, "email_subscription_topics": ["news"]}
    writer = FakeWriter()
    process_stream_batch([stream_record(muted, raw)], writer, FakePublisher(), LANES)
    assert writer.decisions == [
        (muted["id"], {"email_subscription_status": True, "promotions_muted_at": None})
    ]


def test_the_write_back_record_itself_decides_nothing_more() -> None:
    old = {**member(), "email_subscription_status": False, "email_subscription_topics": []}
    written_back = {**old, "promotions_muted_at": NOW}
    writer = FakeWriter()
    publisher = FakePublisher()
    process_stream_batch([stream_record(old, written_back)], writer, publisher, LANES)
    assert writer.decisions == []


def test_unmute_yields_sync_then_resubscribe_event_in_order() -> None:
    muted = {**member(), "promotions_muted_at": NOW}
    unmuted = {**muted, "promotions_muted_at": None}
    publisher = FakePublisher()
    process_stream_batch([stream_record(muted, unmuted)], FakeWriter(), publisher, LANES)
    intents = publisher.track[0].intents
    assert [type(i) for i in intents] == [SyncProfile, TrackEvent]
    assert isinstance(intents[1], TrackEvent)
    assert intents[1].name == "promotions_resubscribe"


def test_password_change_goes_to_the_email_queue() -> None:
    old = member(password_updated_at="2026-01-01T00:00:00Z")
    new = {**old, "password_updated_at": NOW}
    publisher = FakePublisher()
    process_stream_batch([stream_record(old, new)], FakeWriter(), publisher, LANES)
    assert [email.kind for email in publisher.emails] == ["password_updated"]
    assert all(isinstance(email, SendEmail) for email in publisher.emails)


def test_unparseable_record_is_parked_alone_and_the_rest_go_on() -> None:
    good = member()
    broken = stream_record(None, member())
    del broken["dynamodb"]["Keys"]
    publisher = FakePublisher()
    result = process_stream_batch([broken, stream_record(None, good)], FakeWriter(), publisher, LANES)
    assert result.failed_sequence_numbers == []
    assert result.malformed == 1
    assert len(publisher.parked) == 1
    assert [i.member_id for m in publisher.track for i in m.intents] == [good["id"]]


def test_transient_failure_reports_that_record_and_stops() -> None:
    first, second = member(), member()
    raw = {**second, "email_subscription_status": False, "email_subscription_topics": []}
    records = [stream_record(None, first), stream_record(second, raw), stream_record(None, member())]
    publisher = FakePublisher()
    result = process_stream_batch(records, FakeWriter(fail=True), publisher, LANES)
    assert result.failed_sequence_numbers == [records[1]["dynamodb"]["SequenceNumber"]]
    assert [i.member_id for m in publisher.track for i in m.intents] == [first["id"]]


def test_queue_outage_reports_the_earliest_record_whose_intents_did_not_go() -> None:
    records = [stream_record(None, member()), stream_record(None, member())]
    result = process_stream_batch(records, FakeWriter(), FakePublisher(fail_track=True), LANES)
    assert result.failed_sequence_numbers == [records[0]["dynamodb"]["SequenceNumber"]]


def test_many_members_are_packed_per_lane_and_keep_their_order() -> None:
    members = [sms_signup({"mobile": f"+1555000{n:04d}"}, NOW) for n in range(200)]
    publisher = FakePublisher()
    process_stream_batch([stream_record(None, m) for m in members], FakeWriter(), publisher, LANES)
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
    process_stream_batch([stream_record(unsubscribed, raw)], writer, FakePublisher(), LANES)
    assert writer.decisions == [(raw["id"], {"email_subscription_status": True})]


def test_raw_unsubscribe_by_status_alone_clears_topics_and_mutes() -> None:
    old = member()
    raw = {**old, "email_subscription_status": False}
    writer = FakeWriter()
    process_stream_batch([stream_record(old, raw)], writer, FakePublisher(), LANES)
    ((_, decided),) = writer.decisions
    assert decided["email_subscription_topics"] == []
    assert decided["promotions_muted_at"] is not None
