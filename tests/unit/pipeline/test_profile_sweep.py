"""The profile sweep (pipeline/profile_sweep.py) against a fake workspace, table and queue."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest

from cio_sync.customerio.batch import Delete, Identify
from cio_sync.customerio.errors import RateLimited
from cio_sync.customerio.people import PeoplePage
from cio_sync.failures import TransientFailure
from cio_sync.members.contract import MemberItem
from cio_sync.members.profile import MANAGED_ATTRIBUTE, profile_attributes
from cio_sync.members.subscriptions import admin_mute, apply_subscription_rules, web_signup
from cio_sync.pipeline.messages import InboundMessage, encode_intents, lane_of
from cio_sync.pipeline.profile_sweep import (
    DELETE_LIMIT,
    DRIFTED,
    EMAIL_COLLISION,
    MEMBER_UNREADABLE,
    MUTED,
    NO_MEMBER,
    NOT_A_MEMBER_ID,
    NOT_SUBSCRIBED,
    PLACEHOLDER,
    SweepOptions,
    SweepOutcome,
    drifted_attributes,
    sweep_profiles,
)
from cio_sync.pipeline.redelivery import Redelivery
from cio_sync.pipeline.sweep_outcome import DeleteSet
from cio_sync.pipeline.track_consumer import process_track_batch
from cio_sync.sync.intents import SyncProfile

from .fakes import FakeDeadLetters, FakePublisher, FakeReader, FakeSender, FakeVisibility
from .sweep_fakes import FakeDirectory, FakeMembers

NOW = "2026-11-26T10:00:00.000000Z"
LATER = "2026-11-26T11:00:00.000000Z"
PLACEHOLDER_ID = "cio-sync-transactional"
_ids = (f"{n:024x}" for n in itertools.count(0xA000))


def new_id() -> str:
    return next(_ids)


def member(**fields: Any) -> MemberItem:
    return web_signup({"email": f"{new_id()}@example.org", "first_name": "Ada", **fields}, NOW)


def options(**overrides: Any) -> SweepOptions:
    values: dict[str, Any] = {"run_id": "sweep-test", "placeholder_id": PLACEHOLDER_ID}
    values.update(overrides)
    return SweepOptions(**values)


class Workspace:
    """A table and the profiles Customer.io holds, built together."""

    def __init__(self, *, email_identifier: bool = False) -> None:
        self.directory = FakeDirectory(email_identifier=email_identifier)
        self.members = FakeMembers()

    def eligible(self) -> str:
        item = member()
        self.members.items[item["id"]] = item
        self.directory.people[item["id"]] = dict(profile_attributes(item))
        return str(item["id"])

    def orphan(self) -> str:
        member_id = new_id()
        self.directory.people[member_id] = {
            "id": member_id,
            "email": f"{member_id}@example.org",
            MANAGED_ATTRIBUTE: True,  # cio-sync made it, then the member was deleted
        }
        return member_id

    def muted(self) -> str:
        member_id = self.eligible()
        self.members.items[member_id] = admin_mute(self.members.items[member_id], LATER)
        return member_id

    def not_subscribed(self) -> str:
        member_id = self.eligible()
        item = dict(self.members.items[member_id])
        item.update(email_subscription_status=False, email_subscription_topics=[])
        self.members.items[member_id] = item  # a raw item the rules never saw: not muted, not subscribed
        return member_id

    def foreign(self, person_id: str) -> None:
        self.directory.people[person_id] = {"id": person_id}

    def sweep(self, publisher: FakePublisher | None = None, **overrides: Any) -> SweepOutcome:
        return sweep_profiles(self.directory, self.members, publisher, options(**overrides))


def queued(publisher: FakePublisher) -> list[str]:
    return publisher.member_ids()


def test_deletes_are_queued_for_orphans_muted_and_unsubscribed_members_only() -> None:
    workspace = Workspace()
    keep = [workspace.eligible() for _ in range(3)]
    orphan, muted, unsubscribed = workspace.orphan(), workspace.muted(), workspace.not_subscribed()
    workspace.foreign("ada@example.org")
    workspace.foreign(PLACEHOLDER_ID)
    publisher = FakePublisher()

    outcome = workspace.sweep(publisher)

    assert sorted(queued(publisher)) == sorted([orphan, muted, unsubscribed])
    assert not set(keep) & set(queued(publisher))
    assert outcome.scanned == 8
    assert dict(outcome.fixed) == {NO_MEMBER: 1, MUTED: 1, NOT_SUBSCRIBED: 1}
    assert dict(outcome.skipped) == {NOT_A_MEMBER_ID: 1, PLACEHOLDER: 1}
    assert outcome.orphans == 1
    assert outcome.deletes == 3
    assert outcome.ok
    # Profiles that are not members' are listed by Customer.io's cio_id, never by their own id.
    assert outcome.examples[NOT_A_MEMBER_ID] == [f"cio_id:{workspace.directory.cio_id('ada@example.org')}"]
    assert "ada@example.org" not in repr(outcome.to_dict())


def test_every_sync_goes_in_its_members_lane_with_a_deterministic_intent_id() -> None:
    workspace = Workspace()
    orphans = [workspace.orphan() for _ in range(250)]
    publisher = FakePublisher()
    outcome = workspace.sweep(publisher)
    assert outcome.fixed[NO_MEMBER] == 250
    for message in publisher.track:
        assert len(message.intents) <= 100
        for intent in message.intents:
            assert isinstance(intent, SyncProfile)
            assert lane_of(intent.member_id, 16) == message.lane
            assert intent.intent_id == f"sweep-test:sweep:{intent.member_id}"
    assert sorted(queued(publisher)) == sorted(orphans)
    again = FakePublisher()
    workspace.sweep(again)
    assert [m.deduplication_id for m in again.track] == [m.deduplication_id for m in publisher.track]


def test_a_dry_run_counts_and_names_the_first_ids_and_sends_nothing() -> None:
    workspace = Workspace()
    orphans = [workspace.orphan() for _ in range(15)]
    outcome = workspace.sweep(None)
    assert outcome.dry_run
    assert outcome.fixed[NO_MEMBER] == 15
    assert outcome.examples[NO_MEMBER] == orphans[:10]
    assert outcome.messages >= 1


def test_pages_are_walked_with_the_cursor_and_progress_is_reported_per_page() -> None:
    workspace = Workspace()
    for _ in range(5):
        workspace.eligible()
        workspace.orphan()
    seen: list[int] = []
    outcome = sweep_profiles(
        workspace.directory,
        workspace.members,
        FakePublisher(),
        options(page_size=3),
        progress=lambda current: seen.append(current.scanned),
    )
    assert workspace.directory.searches == [(None, 3), ("3", 3), ("6", 3), ("9", 3)]
    assert seen == [3, 6, 9, 10]
    assert outcome.pages == 4
    assert outcome.complete
    # Each page's ids are read from the table at once (the adapter batches them by 100).
    assert [len(read) for read in workspace.members.reads] == [3, 3, 3, 1]


def test_syncs_wait_for_full_messages_across_pages_and_the_rest_goes_at_the_end() -> None:
    workspace = Workspace()
    for _ in range(25):
        workspace.orphan()
    sent: list[int] = []

    class Counting(FakePublisher):
        def publish_track(self, messages: Any) -> list[int]:
            sent.append(sum(len(message.intents) for message in messages))
            return super().publish_track(messages)

    publisher = Counting()
    outcome = workspace.sweep(publisher, page_size=3, flush_at=10)
    assert sent == [12, 12, 1]  # pages of 3: queued once 10 or more wait, the last one at the end
    assert outcome.fixed[NO_MEMBER] == 25


def test_under_the_brake_every_delete_is_queued_at_the_end_of_the_walk() -> None:
    workspace = Workspace()
    orphans = [workspace.orphan() for _ in range(4)]
    publisher = FakePublisher()
    outcome = workspace.sweep(publisher, max_deletes=4, page_size=3)
    assert sorted(queued(publisher)) == sorted(orphans)
    assert outcome.held_deletes is None
    assert not outcome.withheld


def test_over_the_brake_no_delete_is_queued_and_the_held_set_is_named() -> None:
    """Issue 21: the brake used to stop after queueing max_deletes; it must hold every delete before any
    is queued, and say which set an operator would approve."""
    workspace = Workspace()
    for _ in range(7):
        workspace.orphan()
    workspace.muted()
    publisher = FakePublisher()
    outcome = workspace.sweep(publisher, max_deletes=4, page_size=3)
    assert queued(publisher) == []
    assert dict(outcome.withheld) == {NO_MEMBER: 7, MUTED: 1}
    assert outcome.skipped[DELETE_LIMIT] == 8
    assert outcome.orphans == 7
    assert outcome.held_deletes is not None
    assert outcome.held_deletes.startswith("8-")
    assert len(outcome.examples[DELETE_LIMIT]) == 4  # at most the brake's worth of ids is ever held


def test_an_approved_set_is_queued_only_while_the_walk_finds_that_same_set() -> None:
    workspace = Workspace()
    orphans = [workspace.orphan() for _ in range(7)]
    held = workspace.sweep(FakePublisher(), max_deletes=4, page_size=3).held_deletes
    assert held is not None

    approved = FakePublisher()
    outcome = workspace.sweep(approved, approved_deletes=held, page_size=3)
    assert sorted(queued(approved)) == sorted(orphans)
    assert outcome.held_deletes is None

    workspace.orphan()  # the set changed since it was approved: nothing goes, the new set is named
    changed = FakePublisher()
    again = workspace.sweep(changed, approved_deletes=held, page_size=3)
    assert queued(changed) == []
    assert again.held_deletes is not None
    assert again.held_deletes != held
    assert again.held_deletes.startswith("8-")
    # A walk from a cursor does not see the whole set: an approval never applies to it.
    partial = FakePublisher()
    workspace.sweep(partial, approved_deletes=again.held_deletes, page_size=3, start="3")
    assert queued(partial) == []


def test_the_held_set_digest_does_not_depend_on_order() -> None:
    forward, backward = DeleteSet(), DeleteSet(keep=0)
    ids = [new_id() for _ in range(5)]
    for member_id in ids:
        forward.add(member_id, NO_MEMBER)
    for member_id in reversed(ids):
        backward.add(member_id, MUTED)
    assert forward.digest == backward.digest
    assert backward.chosen == []
    backward.add(new_id(), NO_MEMBER)
    assert backward.digest != forward.digest


def test_a_customer_io_failure_stops_the_walk_where_a_later_run_goes_on() -> None:
    workspace = Workspace()
    orphans = [workspace.orphan() for _ in range(9)]
    workspace.directory.fail_on_search[2] = RateLimited("Customer.io answered HTTP 429")
    first = FakePublisher()
    stopped = workspace.sweep(first, page_size=3)
    assert not stopped.complete
    assert not stopped.ok
    assert stopped.stopped_because == "Customer.io: RateLimited"
    assert stopped.next_start == "3"
    resumed_publisher = FakePublisher()
    resumed = workspace.sweep(resumed_publisher, page_size=3, start=stopped.next_start)
    assert resumed.complete
    assert sorted(queued(first) + queued(resumed_publisher)) == sorted(orphans)


def test_the_next_page_is_asked_for_while_this_one_is_swept() -> None:
    """Prefetching changes when pages are asked for, never what is found or queued."""
    workspace = Workspace()
    for _ in range(7):
        workspace.eligible()
        workspace.orphan()
    asked = threading.Condition()

    class Announcing(FakeDirectory):
        def search_people(self, *args: Any, **kwargs: Any) -> Any:
            page = super().search_people(*args, **kwargs)
            with asked:
                asked.notify_all()
            return page

    directory = Announcing(people=workspace.directory.people)
    reads = 0

    class Waiting(FakeMembers):
        def get_many(self, member_ids: Any) -> Any:
            # While page n is read from the table, page n + 1 is asked for (all but the last page).
            nonlocal reads
            reads += 1
            if reads < 4:
                with asked:
                    assert asked.wait_for(lambda: len(directory.searches) > reads, timeout=30)
            return super().get_many(member_ids)

    ahead, one_by_one = FakePublisher(), FakePublisher()
    first = sweep_profiles(directory, Waiting(items=workspace.members.items), ahead, options(page_size=4))
    assert len(directory.searches) == 4
    second = sweep_profiles(
        workspace.directory, workspace.members, one_by_one, options(page_size=4, prefetch=False)
    )
    assert first.to_dict() == second.to_dict()
    assert queued(ahead) == queued(one_by_one)


def test_a_table_failure_stops_the_walk_too() -> None:
    class Throttled(FakeMembers):
        def get_many(self, member_ids: Any) -> Any:
            raise TransientFailure("member table: ProvisionedThroughputExceededException")

    workspace = Workspace()
    workspace.orphan()
    outcome = sweep_profiles(workspace.directory, Throttled(), FakePublisher(), options())
    assert outcome.stopped_because is not None
    assert outcome.stopped_because.startswith("member table")
    assert outcome.next_start is None  # the first page: start again from the beginning


def test_the_deadline_stops_before_a_page_that_could_not_finish() -> None:
    """A fake clock: each search costs 10 s; the walk must stop while 30 s (the reserve) are left."""
    workspace = Workspace()
    for _ in range(10):
        workspace.orphan()
    now = [0.0]

    class SlowDirectory(FakeDirectory):
        def search_people(self, *args: Any, **kwargs: Any) -> Any:
            now[0] += 10.0
            return super().search_people(*args, **kwargs)

    slow = SlowDirectory(people=workspace.directory.people)
    outcome = sweep_profiles(
        slow,
        workspace.members,
        FakePublisher(),
        options(page_size=2, deadline=55.0, prefetch=False, read_opt_outs=False),  # only the walk here
        clock=lambda: now[0],
    )
    assert outcome.pages == 3  # started at 0, 10 and 20 s; at 30 s only 25 s were left
    assert outcome.stopped_because == "deadline"
    assert outcome.next_start == "6"


def test_unreadable_members_are_left_alone_and_named() -> None:
    workspace = Workspace()
    broken = workspace.eligible()
    orphan = workspace.orphan()
    workspace.members.unreadable.add(broken)
    publisher = FakePublisher()
    outcome = workspace.sweep(publisher)
    assert queued(publisher) == [orphan]
    assert outcome.examples[MEMBER_UNREADABLE] == [broken]


# ---- attributes ------------------------------------------------------------------------------------------


def test_attributes_are_compared_as_customer_io_stores_them() -> None:
    item = member(mobile="+15555550123", sms_status="active")
    expected = profile_attributes(item)
    stored = {
        name: ("true" if v is True else "false" if v is False else str(v)) for name, v in expected.items()
    }
    stored = {name: value for name, value in stored.items() if value != "None"}
    assert drifted_attributes(expected, stored) == []
    assert drifted_attributes(expected, {**stored, "first_name": "Grace"}) == ["first_name"]
    assert drifted_attributes(expected, {**stored, "sms_paused": "true"}) == ["sms_paused"]
    # A consent opt-out the profile holds is not drift: no sync may undo it (docs/member-contract.md).
    assert drifted_attributes(expected, {**stored, "community_email_subscription_status": "false"}) == []
    assert drifted_attributes(expected, {**stored, "news_email_subscription_status": "true"}) == [
        "news_email_subscription_status"
    ]
    # Attributes the payload does not name (other sources, Customer.io's cio_id) are not compared.
    assert drifted_attributes(expected, {**stored, "cio_id": "0000002a", "favourite": "tea"}) == []
    # An attribute the payload sets to null must be absent.
    assert expected["last_name"] is None
    assert drifted_attributes(expected, {**stored, "last_name": "Byron"}) == ["last_name"]
    missing = dict(stored)
    del missing["email"]
    assert drifted_attributes(expected, missing) == ["email"]


def test_a_volatile_timestamp_may_lag_within_its_window_only() -> None:
    item = member()
    item["last_authenticated_at"] = "2026-11-26T20:00:00.000000Z"
    expected = profile_attributes(item)
    login = expected["last_authenticated_at"]
    assert isinstance(login, int)
    stored = {
        name: str(v).lower() if isinstance(v, bool) else str(v)
        for name, v in expected.items()
        if v is not None
    }
    same_day = {**stored, "last_authenticated_at": str(login - 3600)}
    day_before = {**stored, "last_authenticated_at": str(login - 86_400)}
    assert drifted_attributes(expected, same_day, 86_400) == []
    assert drifted_attributes(expected, day_before, 86_400) == ["last_authenticated_at"]
    assert drifted_attributes(expected, same_day, 0) == ["last_authenticated_at"]


def test_drifted_profiles_are_reidentified_through_the_track_queue() -> None:
    workspace = Workspace()
    fine = workspace.eligible()
    stale = workspace.eligible()
    workspace.directory.people[stale]["first_name"] = "Old name"
    publisher = FakePublisher()
    outcome = workspace.sweep(publisher, check_attributes=True)
    assert queued(publisher) == [stale]
    assert outcome.fixed[DRIFTED] == 1
    assert dict(outcome.drifted_attributes) == {"first_name": 1}
    assert fine not in queued(publisher)
    assert workspace.directory.attribute_requests == [[fine, stale]]


def test_attributes_are_read_100_ids_a_request() -> None:
    workspace = Workspace()
    for _ in range(250):
        workspace.eligible()
    workspace.sweep(FakePublisher(), check_attributes=True)
    assert [len(ids) for ids in workspace.directory.attribute_requests] == [100, 100, 50]


def test_without_the_flag_attributes_are_never_read() -> None:
    workspace = Workspace()
    stale = workspace.eligible()
    workspace.directory.people[stale]["first_name"] = "Old name"
    publisher = FakePublisher()
    workspace.sweep(publisher)
    assert workspace.directory.attribute_requests == []
    assert queued(publisher) == []


def test_an_email_another_person_holds_is_reported_not_reidentified_when_email_identifies() -> None:
    """In an email-identifier workspace, identify answers 200 and changes nothing: an attribute update
    failure. The sweep names such members instead of re-identifying them every week."""
    workspace = Workspace(email_identifier=True)
    holder = workspace.eligible()
    blocked = workspace.eligible()
    taken = workspace.members.items[holder]["email"]
    workspace.members.items[blocked] = {**workspace.members.items[blocked], "email": taken}
    publisher = FakePublisher()
    outcome = workspace.sweep(publisher, check_attributes=True)
    assert queued(publisher) == []
    assert outcome.email_identifier
    assert outcome.examples[EMAIL_COLLISION] == [blocked]
    assert workspace.directory.email_searches == [taken]
    # The same drift in a workspace that identifies by id only is fixed by an identify.
    workspace.directory.email_identifier = False
    by_id = FakePublisher()
    assert workspace.sweep(by_id, check_attributes=True).fixed[DRIFTED] == 1
    assert queued(by_id) == [blocked]


# ---- ordering with live traffic ---------------------------------------------------------------------------


def _track(messages: list[InboundMessage], table: dict[str, MemberItem]) -> FakeSender:
    sender = FakeSender()
    process_track_batch(
        messages,
        reader=FakeReader(table),
        sender=sender,
        dead_letters=FakeDeadLetters(),
        deadline=None,
        redelivery=Redelivery(FakeVisibility(), max_receives=5),
    )
    return sender


@pytest.mark.parametrize("sweep_first", [True, False])
def test_a_member_who_resubscribes_during_a_sweep_keeps_the_profile(sweep_first: bool) -> None:
    """The sweep reads the member muted and queues a sync; before the track function runs, the member
    resubscribes and the stream queues its own sync in the same lane. Whichever comes first, the track
    function reads the member as they are now: it identifies, never deletes."""
    workspace = Workspace()
    member_id = workspace.muted()
    publisher = FakePublisher()
    outcome = workspace.sweep(publisher)
    assert outcome.fixed[MUTED] == 1
    (sweep_message,) = publisher.track

    muted = workspace.members.items[member_id]
    resubscribed = apply_subscription_rules(
        muted,
        {**muted, "email_subscription_topics": ["news"], "updated_at": "2026-11-26T12:00:00.000000Z"},
        LATER,
    )
    assert resubscribed["promotions_muted_at"] is None
    table = {member_id: resubscribed}
    stream_sync = SyncProfile(f"stream:{member_id}:resubscribe", member_id)
    stream_message = InboundMessage(
        "stream",
        lane_of(member_id, 16),
        encode_intents([stream_sync]),
        1,
    )
    from_sweep = InboundMessage("sweep", sweep_message.lane, sweep_message.body(), 1)
    assert from_sweep.group_id == stream_message.group_id  # one lane: SQS keeps their order

    ordered = [from_sweep, stream_message] if sweep_first else [stream_message, from_sweep]
    # One batch, or one message per invocation: the outcome is the same.
    together = _track(ordered, table)
    apart = [_track([message], table) for message in ordered]
    for sent in [together.sent, *(sender.sent for sender in apart)]:
        operations = [operation for request in sent for operation in request]
        assert operations
        assert all(isinstance(operation, Identify) for operation in operations)
        assert not any(isinstance(operation, Delete) for operation in operations)


def test_an_orphan_sync_from_the_sweep_ends_in_a_delete() -> None:
    workspace = Workspace()
    orphan = workspace.orphan()
    publisher = FakePublisher()
    workspace.sweep(publisher)
    (message,) = publisher.track
    sender = _track([InboundMessage("m", message.lane, message.body(), 1)], {})
    assert sender.sent == [[Delete(orphan)]]


def test_a_cursor_given_twice_stops_the_walk_instead_of_looping() -> None:
    workspace = Workspace()
    orphans = [workspace.orphan() for _ in range(4)]
    search = workspace.directory.search_people

    def stuck(filter_: Any, *, start: str | None = None, limit: int = 1000, deadline: Any = None) -> Any:
        page = search(filter_, start=start, limit=limit, deadline=deadline)
        return page if start is None else PeoplePage(page.people, start)  # "next" = the cursor it was given

    workspace.directory.search_people = stuck  # type: ignore[method-assign]
    publisher = FakePublisher()
    outcome = workspace.sweep(publisher, page_size=2)
    assert outcome.complete is False
    assert outcome.stopped_because == "Customer.io gave a page cursor twice"
    assert outcome.pages == 2  # the first page, then the stuck one once: its "next" was seen before
    assert sorted(queued(publisher)) == sorted(orphans)  # what it did see is still fixed
