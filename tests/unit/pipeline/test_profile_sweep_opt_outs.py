"""The sweep's opt-out walk (issue 22.5): with the default options, an unsubscribe whose reporting webhook
was lost reaches the member, for requests that follow the unsubscribed people, never the workspace."""

from __future__ import annotations

import itertools
from typing import Any

from cio_sync.customerio.errors import RetryableError
from cio_sync.customerio.people import UNSUBSCRIBED_WITH_AN_ID, PeoplePage
from cio_sync.members.contract import parse_iso
from cio_sync.members.profile import profile_attributes
from cio_sync.members.subscriptions import web_signup
from cio_sync.pipeline.consent import ConsentPolicy
from cio_sync.pipeline.consent_readback import APPLIED, WOULD_APPLY
from cio_sync.pipeline.profile_sweep import SweepOptions, SweepOutcome, sweep_profiles

from .fakes import FakePublisher
from .sweep_fakes import FakeConsent, FakeDirectory, FakeMembers

NOW = "2026-11-26T10:00:00.000000Z"
PLACEHOLDER_ID = "cio-sync-transactional"
FULL = ConsentPolicy({"topic_1": "news"}, False, None, PLACEHOLDER_ID)
STATUS = "email_subscription_status"
_ids = (f"{n:024x}" for n in itertools.count(0xD000))


class Workspace:
    def __init__(self, directory: FakeDirectory | None = None) -> None:
        self.directory = directory or FakeDirectory()
        self.members = FakeMembers()
        self.consent = FakeConsent(self.members)

    def member(self, **fields: Any) -> str:
        item = web_signup(
            {
                "id": next(_ids),
                "email": "x@example.org",
                "mobile": "+15555550123",
                "sms_status": "active",
                **fields,
            },
            NOW,
        )
        self.members.items[item["id"]] = item
        self.directory.people[item["id"]] = dict(profile_attributes(item))
        return str(item["id"])

    def opted_in_at(self, member_id: str) -> int:
        return int(parse_iso(self.members.items[member_id]["email_opt_in_at"]).timestamp())

    def unsubscribe_in_customer_io(self, member_id: str) -> None:
        """The person clicked unsubscribe an hour after opting in; the webhook that said so never came."""
        self.directory.people[member_id]["unsubscribed"] = True
        self.directory.stamps.setdefault(member_id, {})["unsubscribed"] = self.opted_in_at(member_id) + 3600

    def sweep(
        self, publisher: FakePublisher | None = None, writer: bool = True, **options: Any
    ) -> SweepOutcome:
        """The sweep with the default options unless told otherwise."""
        return sweep_profiles(
            self.directory,
            self.members,
            publisher or FakePublisher(),
            SweepOptions(run_id="sweep-test", placeholder_id=PLACEHOLDER_ID, **options),
            consent_writer=self.consent if writer else None,
        )


def test_with_the_default_options_a_lost_unsubscribe_webhook_converges() -> None:
    workspace = Workspace()
    kept, gone = workspace.member(), workspace.member()
    workspace.unsubscribe_in_customer_io(gone)

    outcome = workspace.sweep()

    assert _opt_outs(workspace.consent.writes) == [gone]
    assert workspace.members.items[gone][STATUS] is False
    assert workspace.members.items[kept][STATUS] is True
    assert dict(outcome.consent) == {APPLIED: 1}
    assert outcome.opt_out_walk == "done"
    assert outcome.ok


def test_it_reads_only_the_unsubscribed_and_only_those_the_table_still_holds_subscribed() -> None:
    """250 subscribed members, 150 unsubscribed in Customer.io of whom 120 already converged: two search
    pages of 100 for the walk, and one attributes request for the 30 the table does not know about."""
    workspace = Workspace()
    for _ in range(250):
        workspace.member()
    converged = [workspace.member() for _ in range(120)]
    lost = [workspace.member() for _ in range(30)]
    for member_id in converged:
        workspace.unsubscribe_in_customer_io(member_id)
        workspace.members.items[member_id][STATUS] = False
    for member_id in lost:
        workspace.unsubscribe_in_customer_io(member_id)

    outcome = workspace.sweep(page_size=100)

    assert workspace.directory.opt_out_searches == [(None, 100), ("100", 100)]
    assert outcome.opt_out_pages == 2
    assert workspace.directory.attribute_requests == [lost]  # the walk's; the plain walk reads none
    assert sorted(member_id for member_id, _ in workspace.consent.writes) == sorted(lost)
    assert outcome.consent[APPLIED] == 30


def test_with_the_full_read_back_too_each_opt_out_is_decided_and_written_once() -> None:
    workspace = Workspace()
    stale, gone = workspace.member(), workspace.member()
    for member_id in (stale, gone):
        workspace.unsubscribe_in_customer_io(member_id)
    workspace.directory.stamps[stale]["unsubscribed"] = workspace.opted_in_at(stale) - 3600  # before opt-in

    outcome = workspace.sweep(consent=FULL)

    assert _opt_outs(workspace.consent.writes) == [gone]
    assert dict(outcome.consent) == {APPLIED: 1, "stale": 1}
    # The full read-back read the one it did not write (its topics); the written one is done.
    assert workspace.directory.attribute_requests == [[stale, gone], [stale]]
    dry = Workspace()
    dry_gone = dry.member()
    dry.unsubscribe_in_customer_io(dry_gone)
    assert dict(dry.sweep(None, writer=False, consent=FULL).consent) == {WOULD_APPLY: 1}


def test_a_resubscribe_in_customer_io_is_never_inferred_from_the_opt_out_walk() -> None:
    """A member whose opt-out the table records resubscribed in Customer.io later: the full read-back
    writes it (so the case is one a read-back can see), the default sweep never does; nor does a profile
    that resubscribed between the walk's search and its read."""
    workspace = Workspace()
    member_id = workspace.member()
    workspace.unsubscribe_in_customer_io(member_id)
    workspace.sweep()
    assert workspace.members.items[member_id][STATUS] is False
    workspace.directory.people[member_id]["unsubscribed"] = False
    workspace.directory.stamps[member_id]["unsubscribed"] = workspace.opted_in_at(member_id) + 30 * 86400
    workspace.consent.writes.clear()

    assert dict(workspace.sweep().consent) == {}
    assert workspace.consent.writes == []
    assert dict(workspace.sweep(consent=FULL, writer=False).consent) == {WOULD_APPLY: 1}

    class Racing(FakeDirectory):
        """Its search still lists the person as unsubscribed; their profile says otherwise."""

        def search_people(self, filter_: Any, **kwargs: Any) -> PeoplePage:
            if filter_ == UNSUBSCRIBED_WITH_AN_ID:
                return PeoplePage((self._person(member_id),), None)
            return super().search_people(filter_, **kwargs)

    racing = Racing(people=workspace.directory.people, stamps=workspace.directory.stamps)
    raced = Workspace(racing)
    raced.members, raced.consent = workspace.members, workspace.consent
    workspace.members.items[member_id][STATUS] = True  # as if the table had never heard of the opt-out
    del workspace.members.items[member_id]["email_opt_out_at"]
    assert dict(raced.sweep().consent) == {}
    assert racing.attribute_requests == [[member_id]]
    assert workspace.consent.writes == []


def test_a_failed_opt_out_search_stops_only_that_walk_and_the_run_is_not_ok() -> None:
    class Failing(FakeDirectory):
        def search_people(self, filter_: Any, **kwargs: Any) -> PeoplePage:
            if filter_ == UNSUBSCRIBED_WITH_AN_ID:
                raise RetryableError(503, "unavailable")
            return super().search_people(filter_, **kwargs)

    workspace = Workspace(Failing())
    workspace.member()
    outcome = workspace.sweep()
    assert outcome.opt_out_walk == "stopped: Customer.io: RetryableError"
    assert outcome.complete
    assert outcome.scanned == 1
    assert not outcome.ok


def test_a_resumed_run_and_read_opt_outs_false_do_not_walk_the_opt_outs() -> None:
    workspace = Workspace()
    workspace.unsubscribe_in_customer_io(workspace.member())
    assert workspace.sweep(read_opt_outs=False).opt_out_walk == "not run"
    assert workspace.sweep(start="0").opt_out_walk == "not run"
    assert workspace.directory.opt_out_searches == []
    assert workspace.consent.writes == []


def _opt_outs(writes: list[tuple[str, dict[str, object]]]) -> list[str]:
    """Members whose write ends the email subscription, stamped as the person's own Customer.io opt-out."""
    return [
        member_id
        for member_id, change in writes
        if change[STATUS] is False
        and change["email_opt_out_at"] == change["email_cio_opt_out_at"]
        and set(change) == {STATUS, "email_opt_out_at", "email_cio_opt_out_at"}
    ]
