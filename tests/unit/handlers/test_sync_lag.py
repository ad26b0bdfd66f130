"""Freshness as a figure: SyncLagMs runs from the stream record's time (the intent's ULID) to Customer.io's
2xx, one value per accepted intent, read from the clock the runtime injects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cio_sync.customerio.errors import InvalidRequest, ServerError
from cio_sync.handlers import email, track
from cio_sync.handlers.email_runtime import EmailRuntime
from cio_sync.handlers.track_runtime import TrackRuntime
from cio_sync.members.subscriptions import web_signup
from cio_sync.observability import metrics
from cio_sync.pipeline.messages import encode_intents
from cio_sync.pipeline.redelivery import Redelivery
from cio_sync.sync.intents import Intent, SendEmail, SyncProfile, deterministic_event_id, sync_lag_ms
from tests.unit.pipeline.email_fakes import Members, Sender, email_ports
from tests.unit.pipeline.fakes import FakeDeadLetters, FakeReader, FakeSender, FakeVisibility

RECORD_MS = 1_790_000_000_000  # the stream record's ApproximateCreationDateTime
NOW = "2026-11-26T10:00:00.000000Z"


def lags() -> list[float]:
    entry = metrics.metric_set.get("SyncLagMs")
    assert entry is None or entry["Unit"] == "Milliseconds"
    return [float(value) for value in entry["Value"]] if entry else []


def ticking(*readings_s: float) -> Callable[[], float]:
    """A clock that reads each value in turn, then stays at the last."""
    remaining = list(readings_s)
    return lambda: remaining.pop(0) if len(remaining) > 1 else remaining[0]


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {"messageId": f"m{n}", "body": body, "attributes": {"MessageGroupId": f"lane-{n}"}}
            for n, body in enumerate(bodies)
        ]
    }


def sync(member_id: str) -> SyncProfile:
    return SyncProfile(deterministic_event_id(f"record-{member_id}", RECORD_MS), member_id)


def track_runtime(
    sender: FakeSender, clock: Callable[[], float], *members: dict[str, Any], measures_lag: bool = True
) -> TrackRuntime:
    return TrackRuntime(
        members=FakeReader({member["id"]: member for member in members}),
        sender=sender,
        dead_letters=FakeDeadLetters(),
        redelivery=Redelivery(FakeVisibility(), max_receives=5),
        preflight=list,
        topic_map={},
        clock=clock,
        measures_lag=measures_lag,
    )


def test_the_lag_is_the_time_from_the_record_to_the_clock_after_the_answer() -> None:
    assert sync_lag_ms(deterministic_event_id("r", RECORD_MS), RECORD_MS / 1000 + 2.5) == 2_500
    assert sync_lag_ms("not-a-ulid", RECORD_MS / 1000) is None


def test_track_publishes_one_lag_per_intent_customer_io_accepted() -> None:
    good, refused, unavailable = (web_signup({"email": f"m{n}@example.org"}, NOW) for n in range(3))
    sender = FakeSender(
        failures={refused["id"]: InvalidRequest(400, "too long"), unavailable["id"]: ServerError(503, "down")}
    )
    # Read before the send at +1.2 s; Customer.io's answer is in at +3.25 s.
    clock = ticking(RECORD_MS / 1000 + 1.2, RECORD_MS / 1000 + 3.25)
    intents: list[Intent] = [sync(good["id"]), sync(refused["id"]), sync(unavailable["id"])]
    bodies = [encode_intents([intent]) for intent in intents]
    track.handle(sqs_event(*bodies), None, track_runtime(sender, clock, good, refused, unavailable))
    assert lags() == [3_250]


def test_track_publishes_no_lag_when_customer_io_fails_the_whole_batch() -> None:
    alive = web_signup({"email": "someone@example.org"}, NOW)
    sender = FakeSender(raise_error=ServerError(502, "bad gateway"))
    runtime = track_runtime(sender, ticking(RECORD_MS / 1000 + 1), alive)
    response = track.handle(sqs_event(encode_intents([sync(alive["id"])])), None, runtime)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert lags() == []


def test_email_publishes_the_lag_of_a_sent_email_and_none_for_a_parked_one() -> None:
    member = {"id": "5f1e2d3c4b5a69788796a5b4", "email": "private.person@example.org"}
    sent = SendEmail(deterministic_event_id("record-1", RECORD_MS), member["id"], "password_updated", {})
    stranger = SendEmail(deterministic_event_id("record-2", RECORD_MS), "a" * 24, "password_updated", {})
    ports, _, dead = email_ports(Members(member), Sender())
    runtime = EmailRuntime(ports=ports, preflight=list, clock=ticking(RECORD_MS / 1000 + 0.75))
    email.handle(sqs_event(sent.to_json(), stranger.to_json()), None, runtime)
    assert len(dead.parked) == 1  # the stranger has no member: parked, so no lag
    assert lags() == [750]


def test_a_dry_run_stack_publishes_no_lag() -> None:
    """With Customer.io disabled nothing is sent, yet the dry-run client 'accepts' every intent."""
    member = web_signup({"email": "someone@example.org"}, NOW)
    runtime = track_runtime(FakeSender(), ticking(RECORD_MS / 1000 + 1), member, measures_lag=False)
    track.handle(sqs_event(encode_intents([sync(member["id"])])), None, runtime)
    assert lags() == []
    sent = SendEmail(deterministic_event_id("record-3", RECORD_MS), member["id"], "password_updated", {})
    ports, _, _ = email_ports(Members({**member, "email": "someone@example.org"}), Sender())
    dry = EmailRuntime(ports=ports, preflight=list, clock=ticking(RECORD_MS / 1000 + 1), measures_lag=False)
    email.handle(sqs_event(sent.to_json()), None, dry)
    assert lags() == []
