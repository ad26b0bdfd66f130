"""The sweep's opt-out walk: only the people Customer.io holds as unsubscribed, each read back by the
consent function's rule (consent_readback), so an unsubscribe whose reporting webhook was lost past
Customer.io's 7-day retry reaches the member on every scheduled run, at a cost proportional to the
unsubscribed, not to the workspace (docs/sweep.md, "The opt-out walk").

A profile's attributes are read only for members the table still holds subscribed to email: once an
opt-out has converged, a page of unsubscribed people costs one search and the table reads. Only a held
`unsubscribed: true` is read (`held_opt_out`): an opt-in is never inferred from this walk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from cio_sync.customerio.errors import CustomerIoError
from cio_sync.customerio.people import MAX_ATTRIBUTE_IDS, UNSUBSCRIBED_WITH_AN_ID, PeoplePage, chunks
from cio_sync.failures import TransientFailure
from cio_sync.members.contract import MemberItem, is_member_id
from cio_sync.members.errors import UnreadableMembers
from cio_sync.pipeline.consent import STATUS
from cio_sync.pipeline.consent_readback import ConsentReadBack, held_opt_out
from cio_sync.pipeline.profile_drift import counted_read_back
from cio_sync.pipeline.sweep_outcome import MEMBER_UNREADABLE, SweepOutcome
from cio_sync.pipeline.sweep_plan import SweepPlan
from cio_sync.pipeline.sweep_ports import PeopleDirectory
from cio_sync.pipeline.track_consumer import MemberReader


def walk_opt_outs(
    directory: PeopleDirectory, members: MemberReader, plan: SweepPlan, clock: Callable[[], float]
) -> None:
    """Every page of unsubscribed people; a failure stops only this walk (`outcome.opt_out_walk` says why)."""
    consent, options, outcome = plan.opt_outs, plan.options, plan.outcome
    if consent is None:
        return
    start: str | None = None
    cursors: set[str] = set()
    try:
        while True:
            if options.deadline is not None and clock() > options.deadline - options.reserve_s:
                outcome.opt_out_walk = "stopped: deadline"
                return
            page = directory.search_people(
                UNSUBSCRIBED_WITH_AN_ID, start=start, limit=options.page_size, deadline=options.deadline
            )
            outcome.opt_out_pages += 1
            _read_back_page(page, directory, members, consent, plan)
            if page.next_start is None:
                outcome.opt_out_walk = "done"
                return
            if page.next_start in cursors:
                outcome.opt_out_walk = "stopped: Customer.io gave a page cursor twice"
                return
            cursors.add(page.next_start)
            start = page.next_start
    except CustomerIoError as error:
        outcome.opt_out_walk = f"stopped: Customer.io: {type(error).__name__}"
    except TransientFailure as error:
        outcome.opt_out_walk = f"stopped: member table: {error}"


def _read_back_page(
    page: PeoplePage,
    directory: PeopleDirectory,
    members: MemberReader,
    consent: ConsentReadBack,
    plan: SweepPlan,
) -> None:
    placeholder, examples = plan.options.placeholder_id, plan.options.examples
    ids = list(
        dict.fromkeys(
            person.id
            for person in page.people
            if person.id is not None and person.id != placeholder and is_member_id(person.id)
        )
    )
    found = _read(members, ids, plan.outcome)
    subscribed = [mid for mid in ids if found.get(mid, {}).get(STATUS) is True and mid not in consent.decided]
    for batch in chunks(subscribed, MAX_ATTRIBUTE_IDS):
        stored = directory.people_profiles(batch, deadline=plan.options.deadline)
        for member_id in batch:
            profile = stored.get(member_id)
            held = held_opt_out(profile) if profile is not None else None
            if held is not None:  # None: deleted or resubscribed since the search
                consent.decided[member_id] = counted_read_back(
                    member_id,
                    held,
                    found[member_id],
                    consent=consent,
                    outcome=plan.outcome,
                    examples=examples,
                )


def _read(
    members: MemberReader, member_ids: Sequence[str], outcome: SweepOutcome
) -> Mapping[str, MemberItem]:
    if not member_ids:
        return {}
    try:
        return members.get_many(member_ids)
    except UnreadableMembers as error:
        outcome.consent[MEMBER_UNREADABLE] += len(error.unreadable)  # the next run reads them again
        return error.readable
