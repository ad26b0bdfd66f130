"""What one profile sweep has decided and not yet queued, and how it is queued: its options, syncs in full
lane messages, deletes held until the brake allows them, and the member ids listed for the table side."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cio_sync.customerio.people import MAX_SEARCH_LIMIT
from cio_sync.pipeline.consent import ConsentPolicy, MemberConsent
from cio_sync.pipeline.consent_readback import ConsentReadBack
from cio_sync.pipeline.messages import MAX_SYNCS_PER_MESSAGE, TRACK_LANES, pack_bulk
from cio_sync.pipeline.missing_profiles import ListedProfiles
from cio_sync.pipeline.sweep_outcome import DELETE_LIMIT, EXAMPLES, MISSING, DeleteSet, SweepOutcome
from cio_sync.pipeline.sweep_ports import TrackPublisher
from cio_sync.sync.diff import DEFAULT_VOLATILE_WINDOW_S
from cio_sync.sync.intents import SyncProfile

# Stop starting pages when less than this is left before the deadline: a page (one search, ten table
# reads, a few queue sends; with attributes, ten more App requests) must end before it.
DEFAULT_RESERVE_S: Final = 30.0


@dataclass(frozen=True)
class SweepOptions:
    run_id: str  # one per invocation: intent ids are `<run id>:sweep:<member id>`
    placeholder_id: str  # the transactional placeholder profile (CUSTOMER_IO_APP_IDENTIFIER_ID)
    lanes: int = TRACK_LANES
    check_attributes: bool = False
    consent: ConsentPolicy | None = None  # read consent back from each eligible profile (consent_readback)
    # First, read back only the people Customer.io holds as unsubscribed (opt_out_walk): a lost unsubscribe
    # webhook converges on every run, at a cost proportional to the unsubscribed. Not on a resumed run.
    read_opt_outs: bool = True
    queue_fixes: bool = True  # False (`reconcile --consent`): only the read-back; no delete is decided
    volatile_window_s: int = DEFAULT_VOLATILE_WINDOW_S
    page_size: int = MAX_SEARCH_LIMIT
    max_deletes: int | None = None  # the brake: more deletes than this in one walk, and none is queued
    approved_deletes: str | None = None  # a held set's digest: queue the deletes if the walk finds that set
    find_missing: bool = False  # after a whole walk, scan the table for eligible members with no profile
    deadline: float | None = None  # absolute time.monotonic()
    reserve_s: float = DEFAULT_RESERVE_S
    start: str | None = None  # go on from a cursor a stopped sweep reported
    prefetch: bool = True  # ask for the next page while this one is swept
    # Syncs are queued once this many are waiting (and at the end): full lane messages, so the track
    # function packs ~1,000 of them per invocation instead of a page's few per lane.
    flush_at: int = TRACK_LANES * MAX_SYNCS_PER_MESSAGE
    examples: int = EXAMPLES


def sweep_intent(run_id: str, member_id: str, created: bool = False) -> SyncProfile:
    """`created` for a profile the sweep re-creates: the id may have been purged (and suppressed) before."""
    return SyncProfile(intent_id=f"{run_id}:sweep:{member_id}", member_id=member_id, created=created)


class SweepPlan:
    """What one sweep has decided and not yet queued: syncs go in full messages, deletes wait for the
    brake (when there is one), and the member ids listed wait for the table side."""

    def __init__(
        self,
        options: SweepOptions,
        outcome: SweepOutcome,
        publisher: TrackPublisher | None,
        consent_writer: MemberConsent | None = None,
    ) -> None:
        self.options, self.outcome, self.publisher = options, outcome, publisher
        policy, decided = options.consent, dict[str, bool]()
        self.consent = ConsentReadBack(policy, consent_writer, decided) if policy is not None else None
        if policy is None:  # the opt-out walk's rules are the consent function's; no topic is read by it
            policy = ConsentPolicy(
                {}, bounce_unsubscribes=False, quarantine=None, placeholder_id=options.placeholder_id
            )
        walk = options.read_opt_outs and options.start is None
        self.opt_outs = ConsentReadBack(policy, consent_writer, decided) if walk else None
        self.syncs: list[tuple[str, str]] = []
        braked = options.max_deletes is not None or options.approved_deletes is not None
        keep = None if options.approved_deletes is not None else options.max_deletes
        self.deletes = DeleteSet(keep=keep) if braked else None
        self.listed = ListedProfiles() if options.find_missing and options.start is None else None

    def sync(self, member_id: str, reason: str) -> None:
        self.syncs.append((member_id, reason))

    def delete(self, member_id: str, reason: str) -> None:
        if self.deletes is None:
            self.sync(member_id, reason)
        else:
            self.deletes.add(member_id, reason)

    def flush_if_full(self) -> None:
        if len(self.syncs) >= self.options.flush_at:
            self.flush()
        self.outcome.waiting = len(self.syncs) + (self.deletes.count if self.deletes else 0)

    def flush(self) -> None:
        _queue(self.syncs, self.publisher, self.options, self.outcome)
        self.syncs = []
        self.outcome.waiting = self.deletes.count if self.deletes else 0

    def settle_deletes(self) -> None:
        """Queue the held deletes if the brake allows them, or hold them all for an operator."""
        deletes, options, outcome = self.deletes, self.options, self.outcome
        outcome.waiting = 0
        if deletes is None or deletes.count == 0:
            return
        if options.approved_deletes is not None:
            whole_walk = outcome.complete and options.start is None
            allowed = whole_walk and deletes.digest == options.approved_deletes
        else:
            allowed = options.max_deletes is not None and deletes.count <= options.max_deletes
        if allowed:
            _queue(deletes.chosen, self.publisher, options, outcome)
            return
        outcome.held_deletes = deletes.digest
        outcome.withheld.update(deletes.reasons)
        outcome.skipped[DELETE_LIMIT] += deletes.count
        for member_id, _ in deletes.chosen[: options.examples]:
            outcome.note(DELETE_LIMIT, member_id, options.examples)


def _queue(
    chosen: Sequence[tuple[str, str]],
    publisher: TrackPublisher | None,
    options: SweepOptions,
    outcome: SweepOutcome,
) -> None:
    if not chosen:
        return
    reasons = dict(chosen)
    intents = [sweep_intent(options.run_id, member, reason == MISSING) for member, reason in reasons.items()]
    messages = pack_bulk(intents, options.lanes)
    failed = set(publisher.publish_track(messages)) if publisher is not None else set()
    refused = {intent.member_id for index in failed for intent in messages[index].intents}
    outcome.messages += len(messages)
    outcome.failed_messages += len(failed)
    outcome.failed_members += len(refused)
    for member_id, reason in chosen:
        if member_id not in refused:
            outcome.fixed[reason] += 1
            outcome.note(reason, member_id, options.examples)
