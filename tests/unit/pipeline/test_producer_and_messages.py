from collections.abc import Sequence

import pytest

from cio_sync.customerio.batch import MAX_ITEM_BYTES, Event, batch_item, plan
from cio_sync.customerio.payloads import encode
from cio_sync.pipeline.messages import MAX_MESSAGE_BYTES, TrackMessage, decode_intents, lane_of, pack_lanes
from cio_sync.pipeline.producer import InvalidRequest, Producer, PublishFailed
from cio_sync.sync.intents import MalformedIntent, SendEmail, SyncProfile, TrackEvent

MEMBER = "5f1e2d3c4b5a69788796a5b4"


class Recorder:
    def __init__(self, refuse: bool = False) -> None:
        self.track: list[TrackMessage] = []
        self.emails: list[SendEmail] = []
        self.refuse = refuse

    def publish_track(self, messages: Sequence[TrackMessage]) -> list[int]:
        self.track.extend(messages)
        return [0] if self.refuse else []

    def publish_email(self, intents: Sequence[SendEmail]) -> list[int]:
        self.emails.extend(intents)
        return [0] if self.refuse else []


def test_password_reset_is_queued_with_its_url_and_an_idempotent_id() -> None:
    recorder = Recorder()
    producer = Producer(recorder, 8, clock=lambda: 1_790_000_000.5)
    intent_id = producer.request_password_reset(MEMBER, "https://example.org/reset?t=1", "req-1")
    assert intent_id == f"forgot-password:{MEMBER}:req-1"
    (email,) = recorder.emails
    assert (email.kind, email.data) == ("forgot_password", {"url": "https://example.org/reset?t=1"})
    assert email.expires_at == 1_790_000_000 + 3600  # the default: the link's hour


def test_two_members_with_the_same_request_id_get_different_intents() -> None:
    recorder = Recorder()
    first = Producer(recorder, 8).request_password_reset(MEMBER, "https://example.org/r", "1")
    second = Producer(recorder, 8).request_password_reset("a" * 24, "https://example.org/r", "1")
    assert first != second


def test_a_reset_may_say_how_long_its_link_is_valid() -> None:
    recorder = Recorder()
    Producer(recorder, 8, clock=lambda: 100.0).request_password_reset(
        MEMBER, "https://x.org/r", valid_for_s=600
    )
    assert recorder.emails[0].expires_at == 700
    with pytest.raises(InvalidRequest, match="valid_for_s"):
        Producer(recorder, 8).request_password_reset(MEMBER, "https://x.org/r", valid_for_s=0)


@pytest.mark.parametrize(
    ("member_id", "url", "field"),
    [
        ("not-an-id", "https://example.org/r", "member_id"),
        (MEMBER, "ftp://example.org/r", "url"),
        (MEMBER, "https://", "url"),
        (MEMBER, "https://example.org/" + "x" * 3000, "url"),
    ],
)
def test_password_reset_refuses_bad_input_before_sending(member_id: str, url: str, field: str) -> None:
    recorder = Recorder()
    with pytest.raises(InvalidRequest, match=f"^{field}:"):
        Producer(recorder, 8).request_password_reset(member_id, url)
    assert recorder.emails == []


def test_track_event_goes_to_the_members_lane() -> None:
    recorder = Recorder()
    event_id = Producer(recorder, 8).track_event(MEMBER, "campaign_signup", {"campaign": 7})
    (message,) = recorder.track
    assert message.lane == lane_of(MEMBER, 8)
    (intent,) = message.intents
    assert isinstance(intent, TrackEvent)
    assert (intent.intent_id, intent.name, intent.data) == (event_id, "campaign_signup", {"campaign": 7})


@pytest.mark.parametrize(
    ("name", "data", "field"),
    [
        ("", {}, "name"),
        ("x" * 101, {}, "name"),
        ("ok", {"blob": "x" * 100_001}, "data"),
        ("ok", {"s": {1, 2}}, "data"),
    ],
)
def test_track_event_validates(name: str, data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequest, match=f"^{field}:"):
        Producer(Recorder(), 8).track_event(MEMBER, name, data)


def test_refused_publish_is_an_error_the_caller_sees() -> None:
    with pytest.raises(PublishFailed):
        Producer(Recorder(refuse=True), 8).request_password_reset(MEMBER, "https://example.org/r")


def test_envelope_round_trip_and_bare_intents() -> None:
    intents = [SyncProfile("a", MEMBER), SyncProfile("b", MEMBER)]
    (message,) = pack_lanes(intents, 8)
    assert decode_intents(message.body()) == intents
    assert decode_intents(intents[0].to_json()) == [intents[0]]


@pytest.mark.parametrize(
    "body", ["", "[]", '{"type":"intent_batch","version":1,"intents":[]}', '{"type":"x"}']
)
def test_malformed_envelopes_are_refused(body: str) -> None:
    with pytest.raises(MalformedIntent):
        decode_intents(body)


def test_big_lanes_split_under_the_message_cap_and_dedup_ids_are_stable() -> None:
    intents = [SyncProfile(f"intent-{n:06d}", MEMBER) for n in range(5000)]
    messages = pack_lanes(intents, 8)
    assert len(messages) > 1
    assert all(len(m.body().encode()) < MAX_MESSAGE_BYTES for m in messages)
    assert [i for m in messages for i in m.intents] == intents
    assert [m.deduplication_id for m in messages] == [m.deduplication_id for m in pack_lanes(intents, 8)]


def test_caller_ids_are_checked_before_anything_is_sent() -> None:
    recorder = Recorder()
    with pytest.raises(InvalidRequest, match=r"^event_id:"):
        Producer(recorder, 8).track_event(MEMBER, "ok", {}, event_id="not-a-ulid")
    with pytest.raises(InvalidRequest, match=r"^request_id:"):
        Producer(recorder, 8).request_password_reset(MEMBER, "https://example.org/r", request_id="x" * 200)
    assert (recorder.track, recorder.emails) == ([], [])


def _last_event(recorder: Recorder) -> Event:
    """The operation the track function will send for the last queued event."""
    (intent,) = recorder.track[-1].intents
    assert isinstance(intent, TrackEvent)
    return Event(intent.member_id, intent.name, dict(intent.data), intent.intent_id, intent.timestamp)


def _event_item_bytes(recorder: Recorder) -> int:
    return len(encode(batch_item(_last_event(recorder))))


@pytest.mark.parametrize("blob", ["x", "é", "\U0001f600"])
def test_the_producer_accepts_exactly_what_a_batch_item_can_carry(blob: str) -> None:
    """Issue 21: an event the batch refuses (over 32,000 bytes as an item) is refused at the producer, and
    one it takes is accepted, measured on the bytes the track function will send."""
    recorder = Recorder()
    producer = Producer(recorder, 8)
    producer.track_event(MEMBER, "campaign_signup", {"blob": ""})
    overhead = _event_item_bytes(recorder)
    fits = "".join(blob for _ in range((MAX_ITEM_BYTES - overhead) // len(blob.encode())))
    producer.track_event(MEMBER, "campaign_signup", {"blob": fits})
    assert MAX_ITEM_BYTES - len(blob.encode()) < _event_item_bytes(recorder) <= MAX_ITEM_BYTES
    assert plan([_last_event(recorder)]).refused == {}
    with pytest.raises(InvalidRequest, match=r"^data: the event would be \d+ bytes"):
        producer.track_event(MEMBER, "campaign_signup", {"blob": fits + blob})


@pytest.mark.parametrize("data", [{"s": "\ud800"}, {"n": float("nan")}])
def test_data_the_batch_cannot_encode_is_refused_at_the_producer(data: dict[str, object]) -> None:
    """9614d0c queued these: an unpaired surrogate was dead-lettered by the track function ("not valid
    JSON"), a NaN raised MalformedIntent instead of InvalidRequest."""
    recorder = Recorder()
    with pytest.raises(InvalidRequest, match=r"^data:"):
        Producer(recorder, 8).track_event(MEMBER, "campaign_signup", data)
    assert recorder.track == []
