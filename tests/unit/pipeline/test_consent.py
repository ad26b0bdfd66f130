"""No sync undoes an opt-out (issue 22, point 3; docs/member-contract.md, "Consent in Customer.io").

Through the real stream and track handlers (and the sweep's), with a member table that emits stream
records and a Customer.io workspace that keeps a timestamp per attribute and drops an update older than the
attribute's last change, as Customer.io does. Every clock reads one simulated timeline (one second per
write): the stream's record times, the track function's, Customer.io's own changes. A webhook is simulated
by the table write the consent function makes for it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from cio_sync.customerio.batch import BatchResult, Delete, Identify, Operation
from cio_sync.handlers import member_stream, profile_sweep, track
from cio_sync.handlers.member_stream_runtime import MemberStreamRuntime
from cio_sync.handlers.profile_sweep_runtime import ProfileSweepRuntime
from cio_sync.handlers.track_runtime import TrackRuntime
from cio_sync.members.subscriptions import sms_signup, web_signup
from cio_sync.observability import metrics
from cio_sync.pipeline.redelivery import Redelivery

from .fakes import FakeDeadLetters, FakePending, FakePublisher, FakeReader, FakeVisibility
from .sweep_fakes import FakeDirectory, FakeMembers
from .table_sim import SimTable

PREFERENCES = "cio_subscription_preferences"
EMAIL = "someone@example.org"


def iso_of(unix_s: int) -> str:
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Table(SimTable):
    """Writers stamp `updated_at` with their own clock: the stream's time plus `writer_offset_s`."""

    writer_offset_s: int = 0

    def tick(self) -> str:
        self.ticks += 1
        self.clock_s += 1
        return iso_of(self.clock_s + self.writer_offset_s)


@dataclass
class Workspace(FakeDirectory):
    """Customer.io: a timestamp per attribute (one for the whole subscription-centre object)."""

    stamps: dict[str, dict[str, int]] = field(default_factory=dict)
    clock_s: int = 0  # for an identify without a timestamp: Customer.io's own clock

    def send_batch(self, operations: Sequence[Operation], deadline: float | None) -> BatchResult:
        for operation in operations:
            if isinstance(operation, Identify):
                stamp = operation.timestamp if operation.timestamp is not None else self.clock_s
                self.identify(operation.member_id, operation.attributes, stamp)
            elif isinstance(operation, Delete):
                self.people.pop(operation.member_id, None)
                self.stamps.pop(operation.member_id, None)
        return BatchResult(len(operations), {})

    def identify(self, person_id: str, attributes: Mapping[str, Any], stamp: int) -> None:
        person = self.people.setdefault(person_id, {"id": person_id})
        stamps = self.stamps.setdefault(person_id, {})
        for name, value in attributes.items():
            key = PREFERENCES if name.startswith(PREFERENCES + ".") else name
            if stamps.get(key, stamp) > stamp:
                continue  # older than the attribute's last change: Customer.io drops it
            stamps[key] = stamp
            if key != name:
                person.setdefault(PREFERENCES, {"topics": {}})["topics"][name.rsplit(".", 1)[1]] = value
            elif value is None:
                person.pop(name, None)
            else:
                person[name] = value


class Pipeline:
    def __init__(self, *, writer_offset_s: int = 0, topic_map: Mapping[str, int] | None = None) -> None:
        self.table = Table(clock_s=int(time.time()) - 3600, writer_offset_s=writer_offset_s)
        self.publisher = FakePublisher()
        self.cio = Workspace()
        self.topic_map = dict(topic_map or {})
        self.stream_runtime = MemberStreamRuntime(
            self.table, FakePending(), self.publisher, volatile_window_s=0
        )
        self.streamed = 0
        self.tracked = 0

    def now(self) -> int:
        self.table.clock_s += 1
        return self.table.clock_s

    def stream(self, *, drain: bool = True) -> None:
        """The records so far; with `drain`, also those of the rules' own write-backs."""
        while self.streamed < len(self.table.records):
            batch = self.table.records[self.streamed :]
            self.streamed += len(batch)
            assert member_stream.handle({"Records": batch}, self.stream_runtime) == {"batchItemFailures": []}
            if not drain:
                return

    def track(self) -> None:
        self.cio.clock_s = self.now()
        messages = self.publisher.track[self.tracked :]
        self.tracked += len(messages)
        records = [
            {
                "messageId": f"m{self.tracked}-{n}",
                "body": message.body(),
                "attributes": {"MessageGroupId": message.lane, "ApproximateReceiveCount": "1"},
            }
            for n, message in enumerate(messages)
        ]
        runtime = TrackRuntime(
            members=FakeReader(self.table.items),
            sender=self.cio,
            dead_letters=FakeDeadLetters(),
            redelivery=Redelivery(FakeVisibility(), max_receives=5),
            preflight=list,
            topic_map=self.topic_map,
            clock=lambda: self.table.clock_s + 0.5,  # the same timeline as the table's stream
        )
        for start in range(0, len(records), 10):
            result = track.handle({"Records": records[start : start + 10]}, None, runtime)
            assert result == {"batchItemFailures": []}

    def sync(self) -> None:
        self.stream()
        self.track()

    def sweep(self) -> dict[str, Any]:
        runtime = ProfileSweepRuntime(
            directory=self.cio,
            members=FakeMembers(self.table.items),
            publisher=self.publisher,
            placeholder_id="cio-sync-transactional",
            check_attributes=True,
            max_deletes=1000,
            volatile_window_s=0,
        )
        outcome = profile_sweep.handle({}, None, runtime, self.now())
        self.track()
        return outcome

    # --- the people ----------------------------------------------------------------------------------

    def sign_up(self, item: Mapping[str, Any]) -> str:
        self.table.put(item)
        self.sync()
        return str(item["id"])

    def login(self, member_id: str) -> None:
        self.table.raw_write(member_id, {"last_authenticated_at": iso_of(self.table.clock_s)})

    def unsubscribe_in_customerio(self, member_id: str) -> None:
        """A click on an email's unsubscribe link: Customer.io sets `unsubscribed`, with its own clock."""
        self.cio.identify(member_id, {"unsubscribed": True}, self.now())

    def webhook_unsubscribed(self, member_id: str) -> None:
        """The consent function's write for Customer.io's `unsubscribed` webhook."""
        self.table.raw_write(member_id, {"email_subscription_status": False})

    def profile(self, member_id: str) -> dict[str, Any] | None:
        return self.cio.people.get(member_id)


@pytest.fixture(autouse=True)
def fresh_metrics() -> Iterator[None]:
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


def email_member(**fields: Any) -> dict[str, Any]:
    return web_signup({"email": EMAIL, **fields}, iso_of(int(time.time()) - 7200))


def both_channels() -> dict[str, Any]:
    item = sms_signup({"email": EMAIL, "mobile": "+15555550123"}, iso_of(int(time.time()) - 7200))
    return {**item, "email_subscription_status": True, "email_subscription_topics": ["community"]}


@pytest.mark.parametrize("writer_offset_s", [0, -86_400, 86_400], ids=["clock-right", "behind", "ahead"])
def test_unsubscribe_in_customerio_then_a_login_then_the_late_webhook_ends_unsubscribed(
    writer_offset_s: int,
) -> None:
    pipeline = Pipeline(writer_offset_s=writer_offset_s)
    member_id = pipeline.sign_up(email_member())
    assert pipeline.profile(member_id)["unsubscribed"] is False  # type: ignore[index]

    pipeline.unsubscribe_in_customerio(member_id)
    pipeline.login(member_id)
    pipeline.sync()
    # The login's sync must not re-subscribe: its opt-in is older than Customer.io's opt-out.
    assert pipeline.profile(member_id)["unsubscribed"] is True  # type: ignore[index]

    pipeline.webhook_unsubscribed(member_id)
    pipeline.sync()
    # Email only: the rules mute the member, and the profile goes (Northstar's rule).
    assert pipeline.table.items[member_id]["promotions_muted_at"] is not None
    assert pipeline.profile(member_id) is None


def test_a_member_on_both_channels_stays_unsubscribed_after_a_login_and_a_sweep() -> None:
    pipeline = Pipeline()
    member_id = pipeline.sign_up(both_channels())
    pipeline.unsubscribe_in_customerio(member_id)

    pipeline.login(member_id)
    pipeline.sync()
    outcome = pipeline.sweep()
    assert pipeline.profile(member_id)["unsubscribed"] is True  # type: ignore[index]
    # An opt-out Customer.io holds is not drift: a sync would not (and must not) undo it.
    assert "unsubscribed" not in outcome["drifted_attributes"]

    pipeline.webhook_unsubscribed(member_id)
    pipeline.login(member_id)
    pipeline.sync()
    pipeline.sweep()
    profile = pipeline.profile(member_id)
    assert profile is not None  # SMS keeps the profile
    assert profile["unsubscribed"] is True
    assert profile["email_subscription_status"] is False


def test_an_opt_in_made_in_the_table_after_a_customerio_opt_out_reaches_customerio() -> None:
    pipeline = Pipeline()
    member_id = pipeline.sign_up(both_channels())
    pipeline.unsubscribe_in_customerio(member_id)
    pipeline.webhook_unsubscribed(member_id)
    pipeline.sync()
    assert pipeline.profile(member_id)["unsubscribed"] is True  # type: ignore[index]

    # Later, the member picks a topic on the website: a raw write, its opt-in stamp written back by the
    # stream. The first sync may read the item before that write-back; the write-back's own sync follows.
    pipeline.table.raw_write(member_id, {"email_subscription_topics": ["news"]})
    pipeline.stream(drain=False)
    pipeline.track()
    pipeline.sync()
    profile = pipeline.profile(member_id)
    assert profile is not None
    assert profile["unsubscribed"] is False
    assert profile["news_email_subscription_status"] is True


def test_an_opt_in_without_the_webhook_still_wins_when_it_is_newer() -> None:
    """The rule is about time, not about who wrote: the table's later opt-in is the newer consent."""
    pipeline = Pipeline()
    member_id = pipeline.sign_up(email_member())
    pipeline.unsubscribe_in_customerio(member_id)
    pipeline.now()
    pipeline.table.raw_write(member_id, {"email_subscription_topics": ["community", "news"]})
    pipeline.sync()
    assert pipeline.profile(member_id)["unsubscribed"] is False  # type: ignore[index]


def test_subscription_centre_topics_use_dot_notation_and_keep_a_topic_opted_out_in_customerio() -> None:
    pipeline = Pipeline(topic_map={"news": 1, "community": 2, "clubs": 3})
    member_id = pipeline.sign_up(email_member(email_subscription_topics=["news"]))
    topics = pipeline.profile(member_id)[PREFERENCES]["topics"]  # type: ignore[index]
    assert topics == {"topic_1": True, "topic_2": True, "topic_3": False}

    # The member opts out of "news" on Customer.io's preference page; the webhook has not arrived yet.
    pipeline.cio.identify(member_id, {f"{PREFERENCES}.topics.topic_1": False}, pipeline.now())
    pipeline.login(member_id)
    pipeline.sync()
    topics = pipeline.profile(member_id)[PREFERENCES]["topics"]  # type: ignore[index]
    assert topics == {"topic_1": False, "topic_2": True, "topic_3": False}


def test_an_opt_out_in_the_table_reaches_customerio_over_any_earlier_opt_in() -> None:
    pipeline = Pipeline(writer_offset_s=-86_400, topic_map={"community": 2})
    member_id = pipeline.sign_up(both_channels())
    # Customer.io's own resubscribe (say, the preference page) before the member unsubscribes on the site.
    pipeline.cio.identify(member_id, {"unsubscribed": False}, pipeline.now())
    pipeline.webhook_unsubscribed(member_id)  # any writer's opt-out, even with a clock a day behind
    pipeline.sync()
    profile = pipeline.profile(member_id)
    assert profile is not None
    assert profile["unsubscribed"] is True
    assert profile["community_email_subscription_status"] is False
    assert profile[PREFERENCES]["topics"] == {"topic_2": False}
