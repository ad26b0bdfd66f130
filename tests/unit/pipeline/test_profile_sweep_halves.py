"""The sweep deletes only profiles cio-sync made (its mark), and converges the other half too: eligible
members with no profile are re-created (issue 21's two sweep histories, at the pipeline's level)."""

from __future__ import annotations

from collections.abc import Iterator

from cio_sync.customerio.batch import Identify
from cio_sync.members.contract import MemberItem
from cio_sync.members.profile import MANAGED_ATTRIBUTE
from cio_sync.pipeline.messages import InboundMessage, lane_of
from cio_sync.pipeline.profile_sweep import DRIFTED, MISSING, NO_MEMBER, UNMANAGED, sweep_profiles
from cio_sync.sync.intents import SyncProfile

from .fakes import FakePublisher
from .test_profile_sweep import Workspace, _track, member, new_id, options, queued


def test_a_member_id_profile_without_the_mark_is_named_and_never_deleted() -> None:
    """Another MongoDB-backed system shares the workspace: its people have 24-hex ids too."""
    workspace = Workspace()
    theirs = new_id()
    workspace.directory.people[theirs] = {"id": theirs, "email": "someone.else@example.org"}
    ours = workspace.orphan()
    muted = workspace.muted()
    del workspace.directory.people[muted][MANAGED_ATTRIBUTE]  # identified before the mark existed
    publisher = FakePublisher()
    outcome = workspace.sweep(publisher)
    assert queued(publisher) == [ours]
    assert outcome.skipped[UNMANAGED] == 2
    assert outcome.examples[UNMANAGED] == [theirs, muted]
    assert outcome.orphans == 1
    # The mark is read only for profiles the sweep would delete, 100 ids a request.
    assert workspace.directory.attribute_requests == [[theirs, ours, muted]]


def test_the_attribute_check_marks_an_eligible_members_unmarked_profile() -> None:
    """How existing profiles get the mark: every identify sends it, so a re-identify adds it."""
    workspace = Workspace()
    member_id = workspace.eligible()
    del workspace.directory.people[member_id][MANAGED_ATTRIBUTE]
    publisher = FakePublisher()
    outcome = workspace.sweep(publisher, check_attributes=True)
    assert queued(publisher) == [member_id]
    assert outcome.fixed[DRIFTED] == 1
    assert dict(outcome.drifted_attributes) == {MANAGED_ATTRIBUTE: 1}


def test_eligible_members_with_no_profile_are_queued_after_a_whole_walk() -> None:
    workspace = Workspace()
    kept = workspace.eligible()
    lost = member()  # a sign-up whose stream records were dropped: no profile
    workspace.members.items[lost["id"]] = lost
    muted_without_profile = workspace.muted()
    del workspace.directory.people[muted_without_profile]
    orphan = workspace.orphan()
    publisher = FakePublisher()
    outcome = sweep_profiles(
        workspace.directory,
        workspace.members,
        publisher,
        options(find_missing=True, page_size=2),
        scanner=workspace.members,
    )
    assert sorted(queued(publisher)) == sorted([lost["id"], orphan])
    assert outcome.fixed[MISSING] == 1
    assert outcome.fixed[NO_MEMBER] == 1
    assert outcome.members_scanned == 3
    assert outcome.member_scan == "done"
    assert kept not in queued(publisher)
    # The sync re-creates the profile: the track function identifies the member as they are.
    (message,) = [m for m in publisher.track if any(i.member_id == lost["id"] for i in m.intents)]
    assert message.lane == lane_of(lost["id"], 16)
    sender = _track([InboundMessage("m", message.lane, message.body(), 1)], {lost["id"]: lost})
    operations = [operation for request in sender.sent for operation in request]
    assert {op.member_id for op in operations if isinstance(op, Identify)} == {lost["id"]}
    # Re-created as a creation: an id purged (and suppressed) before is unsuppressed first (review of 21).
    syncs = [i for m in publisher.track for i in m.intents if isinstance(i, SyncProfile)]
    assert [i.created for i in syncs if i.member_id == lost["id"]] == [True]
    assert [i.created for i in syncs if i.member_id == orphan] == [False]


def test_the_table_side_waits_for_a_walk_of_the_whole_workspace() -> None:
    workspace = Workspace()
    lost = member()
    workspace.members.items[lost["id"]] = lost
    for _ in range(3):
        workspace.eligible()
    resumed = FakePublisher()
    outcome = sweep_profiles(
        workspace.directory,
        workspace.members,
        resumed,
        options(find_missing=True, page_size=2, start="2"),
        scanner=workspace.members,
    )
    assert queued(resumed) == []
    assert outcome.member_scan.startswith("not run")
    assert workspace.members.scans == 0


def test_the_table_side_stops_at_the_deadline_and_says_so() -> None:
    workspace = Workspace()
    lost = member()
    workspace.members.items[lost["id"]] = lost
    now = [0.0]

    class Late:
        def scan_eligibility(self) -> Iterator[MemberItem]:
            now[0] = 100.0  # the walk used the time: the scan starts past the reserve
            yield from workspace.members.scan_eligibility()

    publisher = FakePublisher()
    outcome = sweep_profiles(
        workspace.directory,
        workspace.members,
        publisher,
        options(find_missing=True, deadline=120.0),
        scanner=Late(),
        clock=lambda: now[0],
    )
    assert outcome.complete
    assert outcome.member_scan == "stopped: deadline"
    assert not outcome.ok
    assert queued(publisher) == []
