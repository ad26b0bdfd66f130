"""The Customer.io side of the invariant: walk every profile, and have the track function fix those that no
eligible member owns; then, optionally, the table side: eligible members the walk found no profile for.

Reconciling from the table can only fix members that still exist. A profile whose member is gone (a REMOVE
record lost past the stream's 24 hours, a shard that gave up, a bug in an older release) is only found
from Customer.io's side. The sweep pages through everyone Customer.io holds (App API search, 1000 a page),
reads each page's ids from the member table (consistent reads), and for every profile whose member does
not exist or is not eligible queues a sync of that member on the track queue, but only if the profile
carries cio-sync's mark (`cio_sync_managed`): another system's people who share the workspace, even with
ids shaped like ours, are named and left alone.

It never deletes anything itself. The sync goes through the same path as every other change (its member's
lane, the track function's batching and pacing), and the track function decides from the member's item as
it is when the sync is sent: a member who re-subscribes while the sweep runs keeps their profile.

The brake holds deletes before any is queued: with `max_deletes`, deletes wait for the end of the walk and
go only if there are no more than that; otherwise none goes and the set's digest is reported for an
operator to approve (`approved_deletes`: a later walk that finds that same set queues it).

Pure: the App API, the table and the queue are ports. Stopping early (the caller's deadline, a Customer.io
or table failure) says where a later run may go on (`next_start`); re-sweeping a page is harmless.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final

from cio_sync.customerio.errors import CustomerIoError
from cio_sync.customerio.people import (
    EVERYONE_WITH_AN_ID,
    MAX_ATTRIBUTE_IDS,
    PeoplePage,
    Person,
    as_stored,
)
from cio_sync.failures import TransientFailure
from cio_sync.members.contract import MemberItem, is_member_id, safe_key
from cio_sync.members.errors import UnreadableMembers
from cio_sync.members.profile import MANAGED_ATTRIBUTE
from cio_sync.members.subscriptions import MUTED_AT, is_profile_eligible
from cio_sync.pipeline.consent import MemberConsent
from cio_sync.pipeline.missing_profiles import missing_members
from cio_sync.pipeline.opt_out_walk import walk_opt_outs
from cio_sync.pipeline.profile_drift import compared_members, drifted_attributes
from cio_sync.pipeline.sweep_outcome import (
    DELETE_LIMIT,
    DELETE_REASONS,
    DRIFTED,
    EMAIL_COLLISION,
    MEMBER_UNREADABLE,
    MISSING,
    MUTED,
    NO_MEMBER,
    NOT_A_MEMBER_ID,
    NOT_SUBSCRIBED,
    PLACEHOLDER,
    PROFILE_CANNOT_BE_BUILT,
    UNMANAGED,
    SweepOutcome,
)
from cio_sync.pipeline.sweep_plan import SweepOptions, SweepPlan, sweep_intent
from cio_sync.pipeline.sweep_ports import MemberScanner, PeopleDirectory, TrackPublisher
from cio_sync.pipeline.track_consumer import MemberReader

__all__ = [
    "DELETE_LIMIT",
    "DELETE_REASONS",
    "DRIFTED",
    "EMAIL_COLLISION",
    "MEMBER_UNREADABLE",
    "MISSING",
    "MUTED",
    "NOT_A_MEMBER_ID",
    "NOT_SUBSCRIBED",
    "NO_MEMBER",
    "PLACEHOLDER",
    "PROFILE_CANNOT_BE_BUILT",
    "UNMANAGED",
    "MemberScanner",
    "PeopleDirectory",
    "SweepOptions",
    "SweepOutcome",
    "TrackPublisher",
    "drifted_attributes",
    "sweep_intent",
    "sweep_profiles",
]

_MARKED: Final = as_stored(True)  # the mark as the App API shows it


def sweep_profiles(
    directory: PeopleDirectory,
    members: MemberReader,
    publisher: TrackPublisher | None,
    options: SweepOptions,
    *,
    scanner: MemberScanner | None = None,
    consent_writer: MemberConsent | None = None,
    clock: Callable[[], float] = time.monotonic,
    progress: Callable[[SweepOutcome], None] | None = None,
) -> SweepOutcome:
    """Read back the unsubscribed (`read_opt_outs`), walk every profile from `options.start`, then
    (`find_missing`, a scanner) the table; with no publisher (a dry run), count what would be queued. With
    `options.consent`, each eligible profile's consent is read back before anything else is decided; consent
    is written through `consent_writer` (None: only counted)."""
    outcome = SweepOutcome(run_id=options.run_id, dry_run=publisher is None)
    plan = SweepPlan(options, outcome, publisher, consent_writer)
    try:
        walk_opt_outs(directory, members, plan, clock)  # first: what follows reads the converged consent
        _walk_pages(directory, members, plan, clock, progress)
        if options.find_missing and scanner is not None:
            _find_missing(scanner, plan, clock)
    finally:
        # Whatever was decided is queued (or held by the brake), however the walk ended.
        plan.flush()
        plan.settle_deletes()
    return outcome


def _walk_pages(
    directory: PeopleDirectory,
    members: MemberReader,
    plan: SweepPlan,
    clock: Callable[[], float],
    progress: Callable[[SweepOutcome], None] | None,
) -> None:
    """With `options.prefetch`, the next page is asked for while this one is read from the table and
    queued (one request ahead, paced like the rest): a page costs about the slower of the two."""
    options, outcome = plan.options, plan.outcome
    start = options.start
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sweep-search") as ahead:

        def search(cursor: str | None) -> PeoplePage:
            return directory.search_people(
                EVERYONE_WITH_AN_ID, start=cursor, limit=options.page_size, deadline=options.deadline
            )

        pending: Future[PeoplePage] | None = None
        cursors: set[str] = set()
        try:
            while True:
                if options.deadline is not None and clock() > options.deadline - options.reserve_s:
                    _stop(outcome, "deadline", start)
                    return
                try:
                    page = pending.result() if pending is not None else search(start)
                    pending = None
                    outcome.pages += 1
                    if options.prefetch and page.next_start is not None:
                        pending = ahead.submit(search, page.next_start)
                    _sweep_page(page, directory, members, plan)
                except CustomerIoError as error:
                    _stop(outcome, f"Customer.io: {type(error).__name__}", start)
                    return
                except TransientFailure as error:
                    _stop(outcome, f"member table: {error}", start)
                    return
                plan.flush_if_full()
                if progress is not None:
                    progress(outcome)
                if page.next_start is None:
                    outcome.complete = True
                    return
                if page.next_start in cursors:  # a cursor given twice would walk the same pages forever
                    _stop(outcome, "Customer.io gave a page cursor twice", start)
                    return
                cursors.add(page.next_start)
                start = page.next_start
        finally:
            if pending is not None:
                pending.cancel()


def _stop(outcome: SweepOutcome, reason: str, start: str | None) -> None:
    """The page that did not finish is swept again by whoever goes on from `start` (harmless)."""
    outcome.stopped_because = reason
    outcome.next_start = start


def _sweep_page(page: PeoplePage, directory: PeopleDirectory, members: MemberReader, plan: SweepPlan) -> None:
    """Decide, for each of this page's profiles, nothing, a delete, a consent write (read-back) or
    (attribute check) an identify."""
    options, outcome = plan.options, plan.outcome
    candidates = _member_profiles(page.people, options, outcome)
    if plan.listed is not None:
        for member_id in candidates:
            plan.listed.add(member_id)
    found, unreadable = _read(members, candidates)
    eligible: list[str] = []
    doomed: list[tuple[str, str]] = []
    for member_id in candidates:
        if member_id in unreadable:
            _skip(outcome, MEMBER_UNREADABLE, member_id, options)
            continue
        reason = _delete_reason(found.get(member_id))
        if reason is None:
            eligible.append(member_id)
        else:
            doomed.append((member_id, reason))
    if options.queue_fixes:
        for member_id, reason in _managed(directory, doomed, options, outcome):
            plan.delete(member_id, reason)
    check_attributes = options.check_attributes and options.queue_fixes
    if eligible and (check_attributes or plan.consent is not None):
        drifted = compared_members(
            directory,
            eligible,
            found,
            outcome,
            consent=plan.consent,
            check_attributes=check_attributes,
            volatile_window_s=options.volatile_window_s,
            deadline=options.deadline,
            examples=options.examples,
        )
        for member_id in drifted:
            plan.sync(member_id, DRIFTED)


def _member_profiles(people: Sequence[Person], options: SweepOptions, outcome: SweepOutcome) -> list[str]:
    """The page's profiles that belong to member ids; the others are counted and left alone."""
    candidates: list[str] = []
    for person in people:
        outcome.scanned += 1
        outcome.email_identifier = outcome.email_identifier or person.has_email_identifier
        if person.id is not None and person.id == options.placeholder_id:
            _skip(outcome, PLACEHOLDER, f"cio_id:{person.cio_id}", options)
        elif not is_member_id(person.id):
            # Never the id itself: another source may identify people by email address or phone number.
            shown = f"cio_id:{person.cio_id}" if person.cio_id else str(safe_key(person.id))
            _skip(outcome, NOT_A_MEMBER_ID, shown, options)
        elif person.id is not None:
            candidates.append(person.id)
    return list(dict.fromkeys(candidates))


def _read(members: MemberReader, member_ids: Sequence[str]) -> tuple[Mapping[str, MemberItem], set[str]]:
    if not member_ids:
        return {}, set()
    try:
        return members.get_many(member_ids), set()
    except UnreadableMembers as error:
        return error.readable, set(error.unreadable)


def _delete_reason(member: MemberItem | None) -> str | None:
    if member is None:
        return NO_MEMBER
    if is_profile_eligible(member):
        return None
    return MUTED if member.get(MUTED_AT) is not None else NOT_SUBSCRIBED


def _managed(
    directory: PeopleDirectory,
    doomed: Sequence[tuple[str, str]],
    options: SweepOptions,
    outcome: SweepOutcome,
) -> list[tuple[str, str]]:
    """The profiles to delete that carry cio-sync's mark (one App request per 100); the others are named
    and left alone: another system's people, or profiles made before the mark (docs/sweep.md)."""
    marked: list[tuple[str, str]] = []
    for start in range(0, len(doomed), MAX_ATTRIBUTE_IDS):
        batch = doomed[start : start + MAX_ATTRIBUTE_IDS]
        stored = directory.people_attributes([member_id for member_id, _ in batch], deadline=options.deadline)
        for member_id, reason in batch:
            attributes = stored.get(member_id)
            if attributes is None:
                continue  # deleted since the page was listed
            if attributes.get(MANAGED_ATTRIBUTE) == _MARKED:
                marked.append((member_id, reason))
            else:
                _skip(outcome, UNMANAGED, member_id, options)
    return marked


def _find_missing(scanner: MemberScanner, plan: SweepPlan, clock: Callable[[], float]) -> None:
    options, outcome = plan.options, plan.outcome
    if plan.listed is None or not outcome.complete:
        outcome.member_scan = "not run: the walk did not list every profile"
        return
    try:
        for member_id in missing_members(
            scanner, plan.listed, outcome, deadline=options.deadline, reserve_s=options.reserve_s, clock=clock
        ):
            plan.sync(member_id, MISSING)
            plan.flush_if_full()
    except TransientFailure as error:
        outcome.member_scan = f"stopped: member table: {error}"


def _skip(outcome: SweepOutcome, reason: str, example: str, options: SweepOptions) -> None:
    outcome.skipped[reason] += 1
    outcome.note(reason, example, options.examples)
