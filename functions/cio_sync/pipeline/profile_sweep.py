"""The Customer.io side of the invariant: walk every profile, and have the track function fix those that no
eligible member owns.

Reconciling from the table can only fix members that still exist. A profile whose member is gone (a REMOVE
record lost past the stream's 24 hours, a shard that gave up, a bug in an older release, a profile made by
hand) is only found from Customer.io's side. The sweep pages through everyone Customer.io holds (App API
search, 1000 a page), reads each page's ids from the member table (consistent reads), and for every profile
whose member does not exist or is not eligible queues a sync of that member on the track queue.

It never deletes anything itself. The sync goes through the same path as every other change (its member's
lane, the track function's batching and pacing), and the track function decides from the member's item as
it is when the sync is sent: a member who re-subscribes while the sweep runs keeps their profile, whatever
order the two syncs arrive in.

Never touched, only counted (with the first few listed): the transactional placeholder profile, and profiles
whose id is not a member id (other sources may share the workspace); those are listed by Customer.io's own
`cio_id`, never by their id, which may be an email address. Optionally (`check_attributes`) the attributes
of eligible members' profiles are read too (100 a request) and a profile that drifted from the member's
payload is re-identified the same way, except when the member's email belongs to another person in a
workspace that identifies people by email: an identify cannot fix that (Customer.io answers 200 and records
an attribute update failure), so it is reported instead.

Pure: the App API, the table and the queue are ports. Stopping early (the caller's deadline, a Customer.io
or table failure) says where a later run may go on (`next_start`); re-sweeping a page is harmless.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from cio_sync.customerio.errors import CustomerIoError
from cio_sync.customerio.people import (
    EVERYONE_WITH_AN_ID,
    MAX_ATTRIBUTE_IDS,
    MAX_SEARCH_LIMIT,
    PeoplePage,
    Person,
    as_stored,
    chunks,
    email_filter,
)
from cio_sync.failures import TransientFailure
from cio_sync.members.contract import InvalidMember, MemberItem, is_member_id, safe_key
from cio_sync.members.errors import UnreadableMembers
from cio_sync.members.profile import ProfileAttributes, ProfileLimitError, profile_attributes
from cio_sync.members.subscriptions import MUTED_AT, is_profile_eligible
from cio_sync.pipeline.consent_identify import holds_opt_out
from cio_sync.pipeline.messages import MAX_SYNCS_PER_MESSAGE, TRACK_LANES, TrackMessage, pack_bulk
from cio_sync.pipeline.track_consumer import MemberReader
from cio_sync.sync.diff import DEFAULT_VOLATILE_WINDOW_S, VOLATILE_ATTRIBUTES
from cio_sync.sync.intents import SyncProfile

# What the sweep queues a sync for, by reason. The first three end in a delete (the track function finds
# the member missing or not eligible), the last in an identify.
NO_MEMBER: Final = "no_member"
MUTED: Final = "muted"
NOT_SUBSCRIBED: Final = "not_subscribed"
DRIFTED: Final = "drifted"
DELETE_REASONS: Final = (NO_MEMBER, MUTED, NOT_SUBSCRIBED)
# What it leaves alone, by reason.
PLACEHOLDER: Final = "placeholder"
NOT_A_MEMBER_ID: Final = "not_a_member_id"
MEMBER_UNREADABLE: Final = "member_unreadable"
PROFILE_CANNOT_BE_BUILT: Final = "profile_cannot_be_built"
EMAIL_COLLISION: Final = "email_collision"
DELETE_LIMIT: Final = "delete_limit"
EXAMPLES: Final = 10
# Stop starting pages when less than this is left before the deadline: a page (one search, ten table
# reads, a few queue sends; with attributes, ten more App requests) must end before it.
DEFAULT_RESERVE_S: Final = 30.0
EMAIL_HOLDERS_LIMIT: Final = 10


class PeopleDirectory(Protocol):
    """The App API's people reads (cio_sync.adapters.customerio.people_client.PeopleClient)."""

    def search_people(
        self,
        filter_: Mapping[str, Any],
        *,
        start: str | None = None,
        limit: int = MAX_SEARCH_LIMIT,
        deadline: float | None = None,
    ) -> PeoplePage: ...

    def people_attributes(
        self, person_ids: Sequence[str], *, deadline: float | None = None
    ) -> Mapping[str, Mapping[str, str]]: ...


class TrackPublisher(Protocol):
    def publish_track(self, messages: Sequence[TrackMessage]) -> list[int]:
        """Send the messages; returns the indexes of those the queue did not take."""
        ...


@dataclass(frozen=True)
class SweepOptions:
    run_id: str  # intent ids are `<run id>:sweep:<member id>`: a resumed run re-sends nothing for 5 min
    placeholder_id: str  # the transactional placeholder profile (CUSTOMER_IO_APP_IDENTIFIER_ID)
    lanes: int = TRACK_LANES
    check_attributes: bool = False
    volatile_window_s: int = DEFAULT_VOLATILE_WINDOW_S
    page_size: int = MAX_SEARCH_LIMIT
    max_deletes: int | None = None  # a brake: past it, profiles to delete are counted, not queued
    deadline: float | None = None  # absolute time.monotonic()
    reserve_s: float = DEFAULT_RESERVE_S
    start: str | None = None  # go on from a cursor a stopped sweep reported
    prefetch: bool = True  # ask for the next page while this one is swept
    # Syncs are queued once this many are waiting (and at the end): full lane messages, so the track
    # function packs ~1,000 of them per invocation instead of a page's few per lane.
    flush_at: int = TRACK_LANES * MAX_SYNCS_PER_MESSAGE
    examples: int = EXAMPLES


@dataclass
class SweepOutcome:
    """What a sweep found and did: counts by reason, and the first ids of each (member ids; `cio_id:...`
    for profiles that are not members')."""

    run_id: str
    dry_run: bool
    scanned: int = 0
    pages: int = 0
    fixed: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    withheld: Counter[str] = field(default_factory=Counter)  # deletes the brake held back, by reason
    drifted_attributes: Counter[str] = field(default_factory=Counter)
    waiting: int = 0  # decided, not yet queued (they go in full messages)
    decided_deletes: int = 0  # what the brake counts: every delete decided, queued or waiting
    messages: int = 0
    failed_messages: int = 0
    failed_members: int = 0
    complete: bool = False
    stopped_because: str | None = None
    next_start: str | None = None
    email_identifier: bool = False  # the workspace identifies people by email too

    @property
    def orphans(self) -> int:
        """Profiles of member ids with no member, queued or held back by the brake."""
        return self.fixed[NO_MEMBER] + self.withheld[NO_MEMBER]

    @property
    def deletes(self) -> int:
        return sum(self.fixed[reason] for reason in DELETE_REASONS)

    @property
    def ok(self) -> bool:
        """Walked to the end and every sync was taken by the queue."""
        return self.complete and self.failed_messages == 0

    def note(self, reason: str, example: str, limit: int) -> None:
        shown = self.examples.setdefault(reason, [])
        if len(shown) < limit:
            shown.append(example)

    def to_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "scanned": self.scanned,
            "pages": self.pages,
            "fixed": dict(sorted(self.fixed.items())),
            "fixed_total": sum(self.fixed.values()),
            "skipped": dict(sorted(self.skipped.items())),
            "orphans": self.orphans,
            "deletes": self.deletes,
            "withheld": dict(sorted(self.withheld.items())),
            "drifted_attributes": dict(sorted(self.drifted_attributes.items())),
            "examples": {reason: list(ids) for reason, ids in sorted(self.examples.items())},
            "messages": self.messages,
            "failed_messages": self.failed_messages,
            "failed_members": self.failed_members,
            "complete": self.complete,
            "stopped_because": self.stopped_because,
            "next_start": self.next_start,
            "email_identifier": self.email_identifier,
        }


def sweep_intent(run_id: str, member_id: str) -> SyncProfile:
    return SyncProfile(intent_id=f"{run_id}:sweep:{member_id}", member_id=member_id)


def sweep_profiles(
    directory: PeopleDirectory,
    members: MemberReader,
    publisher: TrackPublisher | None,
    options: SweepOptions,
    *,
    clock: Callable[[], float] = time.monotonic,
    progress: Callable[[SweepOutcome], None] | None = None,
) -> SweepOutcome:
    """Walk every profile from `options.start`; with no publisher (a dry run), count what would be queued.

    With `options.prefetch`, the next page is asked for while this one is read from the table and queued
    (one request ahead, paced like the rest): the walk then takes about as long as the slower of the two.
    """
    outcome = SweepOutcome(run_id=options.run_id, dry_run=publisher is None)
    start = options.start
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sweep-search") as ahead:

        def search(cursor: str | None) -> PeoplePage:
            return directory.search_people(
                EVERYONE_WITH_AN_ID, start=cursor, limit=options.page_size, deadline=options.deadline
            )

        pending: Future[PeoplePage] | None = None
        chosen: list[tuple[str, str]] = []
        cursors: set[str] = set()
        try:
            while True:
                if options.deadline is not None and clock() > options.deadline - options.reserve_s:
                    _stop(outcome, "deadline", start)
                    break
                try:
                    page = pending.result() if pending is not None else search(start)
                    pending = None
                    outcome.pages += 1
                    if options.prefetch and page.next_start is not None:
                        pending = ahead.submit(search, page.next_start)
                    chosen.extend(_sweep_page(page, directory, members, options=options, outcome=outcome))
                except CustomerIoError as error:
                    _stop(outcome, f"Customer.io: {type(error).__name__}", start)
                    break
                except TransientFailure as error:
                    _stop(outcome, f"member table: {error}", start)
                    break
                if len(chosen) >= options.flush_at:
                    _queue(chosen, publisher, options, outcome)
                    chosen = []
                outcome.waiting = len(chosen)
                if progress is not None:
                    progress(outcome)
                if page.next_start is None:
                    outcome.complete = True
                    break
                if page.next_start in cursors:  # a cursor given twice would walk the same pages forever
                    _stop(outcome, "Customer.io gave a page cursor twice", start)
                    break
                cursors.add(page.next_start)
                start = page.next_start
        finally:
            # Whatever was decided is queued, however the walk ended (a stop, an unexpected error).
            _queue(chosen, publisher, options, outcome)
            outcome.waiting = 0
            if pending is not None:
                pending.cancel()
    return outcome


def _stop(outcome: SweepOutcome, reason: str, start: str | None) -> None:
    """The page that did not finish is swept again by whoever goes on from `start` (harmless)."""
    outcome.stopped_because = reason
    outcome.next_start = start


def _sweep_page(
    page: PeoplePage,
    directory: PeopleDirectory,
    members: MemberReader,
    *,
    options: SweepOptions,
    outcome: SweepOutcome,
) -> list[tuple[str, str]]:
    """What to queue for this page's profiles: (member id, reason)."""
    candidates = _member_profiles(page.people, options, outcome)
    found, unreadable = _read(members, candidates)
    chosen: list[tuple[str, str]] = []
    eligible: list[str] = []
    for member_id in candidates:
        if member_id in unreadable:
            _skip(outcome, MEMBER_UNREADABLE, member_id, options)
            continue
        member = found.get(member_id)
        reason = _delete_reason(member)
        if reason is None:
            eligible.append(member_id)
        elif (
            options.max_deletes is not None
            and outcome.decided_deletes + _deletes(chosen) >= options.max_deletes
        ):
            outcome.withheld[reason] += 1
            _skip(outcome, DELETE_LIMIT, member_id, options)
        else:
            chosen.append((member_id, reason))
    if options.check_attributes and eligible:
        drifted = _drifted(directory, eligible, found, options, outcome)
        chosen.extend((member_id, DRIFTED) for member_id in drifted)
    outcome.decided_deletes += _deletes(chosen)
    return chosen


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


def _deletes(chosen: Sequence[tuple[str, str]]) -> int:
    return sum(1 for _, reason in chosen if reason in DELETE_REASONS)


def _skip(outcome: SweepOutcome, reason: str, example: str, options: SweepOptions) -> None:
    outcome.skipped[reason] += 1
    outcome.note(reason, example, options.examples)


def _drifted(
    directory: PeopleDirectory,
    eligible: Sequence[str],
    found: Mapping[str, MemberItem],
    options: SweepOptions,
    outcome: SweepOutcome,
) -> list[str]:
    """Eligible members whose profile differs from their payload, and an identify can fix it."""
    drifted: list[str] = []
    for batch in chunks(eligible, MAX_ATTRIBUTE_IDS):
        stored = directory.people_attributes(batch, deadline=options.deadline)
        for member_id in batch:
            attributes = stored.get(member_id)
            if attributes is None:
                continue  # deleted since the page was read: nothing to compare
            try:
                expected = profile_attributes(found[member_id])
            except (ProfileLimitError, InvalidMember, TypeError, ValueError, KeyError):
                # The track function parks such a member with its reason; the sweep only reports it.
                _skip(outcome, PROFILE_CANNOT_BE_BUILT, member_id, options)
                continue
            wrong = drifted_attributes(expected, attributes, options.volatile_window_s)
            if not wrong:
                continue
            if "email" in wrong and outcome.email_identifier and _email_taken(directory, expected, options):
                _skip(outcome, EMAIL_COLLISION, member_id, options)
                continue
            outcome.drifted_attributes.update(wrong)
            drifted.append(member_id)
    return drifted


def drifted_attributes(
    expected: ProfileAttributes, stored: Mapping[str, str], volatile_window_s: int = DEFAULT_VOLATILE_WINDOW_S
) -> list[str]:
    """Names of the payload's attributes the profile does not hold as Customer.io would store them.

    A null in the payload means the attribute is absent. Attributes the payload does not name (set by
    other sources, Customer.io's own `cio_id`) are not compared. A volatile timestamp may lag the item's
    within its window, as the pipeline lets it (docs/pipeline.md, "Volatile timestamps").
    """
    wrong: list[str] = []
    for name, value in expected.items():
        if name == "id":
            continue
        have = stored.get(name)
        if value is None:
            if have not in (None, ""):
                wrong.append(name)
            continue
        if have == as_stored(value) or holds_opt_out(name, have):
            continue
        if name in VOLATILE_ATTRIBUTES and _lags_within_window(have, value, volatile_window_s):
            continue
        wrong.append(name)
    return sorted(wrong)


def _lags_within_window(stored: str | None, expected: object, window_s: int) -> bool:
    if stored is None or not stored.isdigit() or not isinstance(expected, int) or window_s <= 0:
        return False
    have = int(stored)
    return have <= expected and have // window_s == expected // window_s


def _email_taken(directory: PeopleDirectory, expected: ProfileAttributes, options: SweepOptions) -> bool:
    """Another person holds the member's email: in an email-identifier workspace, identify cannot fix it."""
    email = expected.get("email")
    if not isinstance(email, str) or not email:
        return False
    page = directory.search_people(email_filter(email), limit=EMAIL_HOLDERS_LIMIT, deadline=options.deadline)
    return any(person.id != expected["id"] for person in page.people)


def _queue(
    chosen: Sequence[tuple[str, str]],
    publisher: TrackPublisher | None,
    options: SweepOptions,
    outcome: SweepOutcome,
) -> None:
    if not chosen:
        return
    reasons = dict(chosen)
    messages = pack_bulk([sweep_intent(options.run_id, member_id) for member_id in reasons], options.lanes)
    failed = set(publisher.publish_track(messages)) if publisher is not None else set()
    refused = {intent.member_id for index in failed for intent in messages[index].intents}
    outcome.messages += len(messages)
    outcome.failed_messages += len(failed)
    outcome.failed_members += len(refused)
    for member_id, reason in chosen:
        if member_id not in refused:
            outcome.fixed[reason] += 1
            outcome.note(reason, member_id, options.examples)
