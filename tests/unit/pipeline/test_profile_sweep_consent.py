"""The sweep's consent read-back (issue 22.5): what a profile holds in Customer.io reaches the member when
its change is newer, before the attribute check decides anything for that member."""

from __future__ import annotations

import itertools
from typing import Any

from cio_sync.customerio.reporting import centre_topic_names, parse_topic_map
from cio_sync.members.contract import parse_iso
from cio_sync.members.profile import profile_attributes
from cio_sync.members.subscriptions import web_signup
from cio_sync.pipeline.consent import ConsentPolicy
from cio_sync.pipeline.consent_readback import APPLIED, WOULD_APPLY
from cio_sync.pipeline.profile_sweep import (
    DRIFTED,
    MUTED,
    NO_MEMBER,
    SweepOptions,
    SweepOutcome,
    sweep_profiles,
)
from cio_sync.pipeline.sweep_outcome import CONSENT_READ_BACK

from .fakes import FakePublisher
from .sweep_fakes import FakeConsent, FakeDirectory, FakeMembers

NOW = "2026-11-26T10:00:00.000000Z"
# A Customer.io opt-out read back an hour after the sign-up at NOW writes its own time beside the status.
UNSUBSCRIBED = {
    "email_subscription_status": False,
    "email_opt_out_at": "2026-11-26T11:00:00.000000Z",
    "email_cio_opt_out_at": "2026-11-26T11:00:00.000000Z",
}
PLACEHOLDER_ID = "cio-sync-transactional"
POLICY = ConsentPolicy(centre_topic_names(parse_topic_map("news=1")), False, None, PLACEHOLDER_ID)
_ids = (f"{n:024x}" for n in itertools.count(0xC000))


class Workspace:
    def __init__(self) -> None:
        self.directory = FakeDirectory()
        self.members = FakeMembers()
        self.consent = FakeConsent(self.members)

    def member(self, **fields: Any) -> str:
        item = web_signup({"id": next(_ids), "email": "x@example.org", "first_name": "Ada", **fields}, NOW)
        self.members.items[item["id"]] = item
        self.directory.people[item["id"]] = dict(profile_attributes(item))
        return str(item["id"])

    def unsubscribe_in_customer_io(self, person_id: str, seconds_after_opt_in: int = 3600) -> None:
        """The person clicked unsubscribe; the webhook that said so never arrived."""
        self.directory.people[person_id]["unsubscribed"] = True
        opted_in = int(parse_iso(self.members.items[person_id]["email_opt_in_at"]).timestamp())
        self.directory.stamps.setdefault(person_id, {})["unsubscribed"] = opted_in + seconds_after_opt_in

    def sweep(
        self, publisher: FakePublisher | None, *, writer: bool = True, **overrides: Any
    ) -> SweepOutcome:
        values: dict[str, Any] = {"run_id": "sweep-test", "placeholder_id": PLACEHOLDER_ID, "consent": POLICY}
        values.update(overrides)
        return sweep_profiles(
            self.directory,
            self.members,
            publisher,
            SweepOptions(**values),
            consent_writer=self.consent if writer else None,
        )


def test_an_unsubscribe_whose_webhook_was_lost_converges_through_two_sweeps() -> None:
    workspace = Workspace()
    kept, gone = workspace.member(), workspace.member()
    workspace.unsubscribe_in_customer_io(gone)

    first = workspace.sweep(FakePublisher())

    assert workspace.consent.writes == [(gone, UNSUBSCRIBED)]
    assert workspace.members.items[gone]["promotions_muted_at"] is not None  # email only: the rules mute
    assert workspace.members.items[kept]["email_subscription_status"] is True
    assert dict(first.consent) == {APPLIED: 1}
    assert dict(first.consent_changes) == {"email_subscription_status": 1}
    assert first.examples[CONSENT_READ_BACK] == [gone]
    # The next sweep finds a muted member's profile and has the track function delete it.
    publisher = FakePublisher()
    second = workspace.sweep(publisher)
    assert publisher.member_ids() == [gone]
    assert dict(second.fixed) == {MUTED: 1}
    assert dict(second.consent) == {}


def test_the_read_back_decides_before_the_attribute_check_so_no_reidentify_covers_the_opt_out() -> None:
    """A member who also drifted: without the read-back the sweep re-identifies them (a payload carrying
    `unsubscribed: false`); with it, their opt-out is written first and no identify is queued from the old
    item (the write's own sync follows)."""
    workspace = Workspace()
    member_id = workspace.member(mobile="+15555550123", sms_status="active")
    workspace.directory.people[member_id]["first_name"] = "Old name"
    workspace.unsubscribe_in_customer_io(member_id)

    without = FakePublisher()
    assert (
        workspace.sweep(without, check_attributes=True, consent=None, read_opt_outs=False).fixed[DRIFTED] == 1
    )
    assert without.member_ids() == [member_id]
    assert workspace.consent.writes == []

    publisher = FakePublisher()
    outcome = workspace.sweep(publisher, check_attributes=True)
    assert workspace.consent.writes == [(member_id, UNSUBSCRIBED)]
    assert publisher.member_ids() == []
    assert outcome.fixed[DRIFTED] == 0
    # SMS keeps the profile: the member stays eligible, with email ended.
    assert workspace.members.items[member_id]["promotions_muted_at"] is None
    # One attributes request served both the read-back and the check.
    assert len(workspace.directory.attribute_requests) == 2  # one per sweep


def test_a_dry_run_says_what_it_would_write_and_writes_nothing() -> None:
    workspace = Workspace()
    member_id = workspace.member()
    workspace.unsubscribe_in_customer_io(member_id)
    before = dict(workspace.members.items[member_id])
    outcome = workspace.sweep(None, writer=False)
    assert workspace.members.items[member_id] == before
    assert dict(outcome.consent) == {WOULD_APPLY: 1}
    assert outcome.to_dict()["consent_changes"] == {"email_subscription_status": 1}
    assert outcome.examples[CONSENT_READ_BACK] == [member_id]


def test_consent_only_reads_back_and_queues_no_fix() -> None:
    workspace = Workspace()
    member_id = workspace.member()
    workspace.unsubscribe_in_customer_io(member_id)
    orphan = next(_ids)
    workspace.directory.people[orphan] = {"id": orphan, "cio_sync_managed": True}
    publisher = FakePublisher()
    outcome = workspace.sweep(publisher, queue_fixes=False, check_attributes=True)
    assert workspace.consent.writes == [(member_id, UNSUBSCRIBED)]
    assert publisher.member_ids() == []
    assert outcome.fixed[NO_MEMBER] == 0


def test_profiles_that_are_not_members_are_never_read_back() -> None:
    workspace = Workspace()
    for person_id in (PLACEHOLDER_ID, "ada@example.org"):
        workspace.directory.people[person_id] = {"id": person_id, "unsubscribed": True}
        workspace.directory.stamps[person_id] = {"unsubscribed": 1_800_000_000}
    outcome = workspace.sweep(FakePublisher())
    assert workspace.directory.attribute_requests == []
    assert workspace.consent.writes == []
    assert dict(outcome.consent) == {}


def test_an_opt_out_older_than_the_members_opt_in_is_counted_and_not_written() -> None:
    workspace = Workspace()
    member_id = workspace.member()
    workspace.unsubscribe_in_customer_io(member_id, seconds_after_opt_in=-3600)
    outcome = workspace.sweep(FakePublisher())
    assert workspace.consent.writes == []
    assert dict(outcome.consent) == {"stale": 1}
    assert CONSENT_READ_BACK not in outcome.examples
