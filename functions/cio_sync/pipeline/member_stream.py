"""member-stream: one pass over a DynamoDB stream batch -> rules enforced -> intents on the queues.

Fan-out happens here once per stream record (a shard allows at most two readers). Records are handled in
order. A record that no retry can fix (it cannot be parsed, its id or an attribute the rules read breaks
the contract, or handling it raised) is parked on the failure queue with its reason at once, and the
records behind it flow on. Only a failure that can pass (a throttled table, a queue outage) stops the
batch at that record, so Lambda retries from it.

Rules on racing raw writes (members/raw_writes.py): each record is decided on top of the previous record's
decision. The decision is written back only while the item is still the version the record showed (its
rule inputs and `updated_at`, which every writer changes); when a later write moved it, the later
record carries the decision forward (in this batch, or through the pending-decision store when it comes
in a later batch or a retry). A decision is never laid over a write it was not decided with.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cio_sync.failures import TransientFailure
from cio_sync.members.contract import InvalidMember, safe_key
from cio_sync.members.raw_writes import state_token
from cio_sync.observability import logger
from cio_sync.pipeline.record_budget import RecordBudget, RecordOverBudget, Unlimited
from cio_sync.pipeline.rule_enforcement import (
    Decided,
    DecisionNotWritten,
    DecisionsNotKept,
    PendingDecision,
    RuleDecisionWriter,
    apply_rules,
    carry_past_park,
    plan_rules,
)
from cio_sync.pipeline.stream_publish import IntentPublisher, publish_intents
from cio_sync.pipeline.stream_records import (
    Entry,
    MemberChange,
    StreamRecord,
    fallback_for,
    read_entry,
    repaired,
)
from cio_sync.sync.diff import DEFAULT_VOLATILE_WINDOW_S, diff, resync
from cio_sync.sync.intents import Intent, SyncProfile

# The ports the composition root wires (PendingDecision, RuleDecisionWriter and IntentPublisher live with
# their steps).
__all__ = [
    "DecisionsNotKept",
    "IntentPublisher",
    "PendingDecision",
    "PendingDecisions",
    "RuleDecisionWriter",
    "StreamBatchResult",
    "process_stream_batch",
]


class PendingDecisions(Protocol):
    def find(self, wanted: Sequence[tuple[str, str]]) -> list[PendingDecision]:
        """The decisions kept for these (member id, token) pairs; the others are absent."""
        ...

    def keep(self, decisions: Sequence[PendingDecision]) -> None:
        """Keep them all; raise DecisionsNotKept naming any it cannot hold (after keeping the others)."""
        ...


@dataclass
class StreamBatchResult:
    failed_sequence_numbers: list[str] = field(default_factory=list)
    intents: int = 0
    rule_decisions_written: int = 0
    decisions_carried: int = 0  # decided, but a later write came first: its record applies them
    opt_outs_assumed: int = 0  # an unseen email opt-out assumed over a pending topic pick
    malformed: int = 0  # records that cannot be read at all
    contract_violations: int = 0  # readable records whose item breaks the contract where it matters


def process_stream_batch(
    records: Iterable[StreamRecord],
    writer: RuleDecisionWriter,
    pending: PendingDecisions,
    publisher: IntentPublisher,
    lanes: int,
    *,
    volatile_window_s: int = DEFAULT_VOLATILE_WINDOW_S,
    budget: RecordBudget | None = None,
) -> StreamBatchResult:
    """Handle a stream batch in order; park what cannot succeed, report the first record to retry.

    Parking happens only for records the batch moves past: when a retry will start at or before a record,
    that retry parks it, so a record is parked once, not once per retry. With a `budget`, the batch stops
    starting records when the invocation's time runs short (the rest are retried), and a record that runs
    past its own budget is parked (pipeline/record_budget.py).
    """
    entries = [read_entry(record) for record in records]
    run = _BatchRun(entries, writer, volatile_window_s, budget or Unlimited())
    try:
        run.decide_all(pending.find(_first_old_versions(run.changes_read())))
    except TransientFailure:
        logger.exception("pending decisions could not be read; Lambda will retry the batch")
        run.retry_from = 0
    try:
        # Every one, not only each member's last: a retry may start from any record of the batch.
        pending.keep([decision for _, decision in run.to_keep])
    except TransientFailure:
        logger.exception("pending decisions could not be kept; Lambda will retry the batch")
        run.retry_from = 0
    except Exception as error:  # no retry stores them: their records are parked, the batch goes on
        run.park_unkept(error.refused if isinstance(error, DecisionsNotKept) else None, _describe(error))
    if run.retry_from != 0:
        run.note_unpublished(publish_intents(run.changes, publisher, lanes))
    return run.finish(publisher)


_Latest = dict[str, PendingDecision]  # each member's decision the batch's next record builds on


class _BatchRun:
    """One batch's walk: decisions in order, the intents they call for, and where a retry must start."""

    def __init__(
        self, batch: list[Entry], writer: RuleDecisionWriter, volatile_window_s: int, budget: RecordBudget
    ) -> None:
        self.batch = batch
        self.budget = budget
        self.writer = writer
        self.volatile_window_s = volatile_window_s
        self.result = StreamBatchResult()
        self.changes: list[tuple[MemberChange, list[Intent]]] = []
        self.positions: list[int] = []  # each change's position in the batch
        self.to_keep: list[tuple[int, PendingDecision]] = []  # (position of its record, decision)
        self.carried = 0
        self.ruled: set[int] = set()  # positions whose rules' decision is noted: a park keeps it
        self.retry_from: int | None = None
        self.last_of: dict[str, int] = {}  # each member's last position in the batch

    def changes_read(self) -> list[MemberChange]:
        """Every parsed change, parked ones too (a decision may be carried past a park)."""
        return [e.change for e in self.batch if e.change is not None]

    def decide_all(self, kept: Sequence[PendingDecision]) -> None:
        latest = {decision.member_id: decision for decision in kept}
        self.last_of = {e.change.member_id: at for at, e in enumerate(self.batch) if e.change is not None}
        for position, entry in enumerate(self.batch):
            change = entry.change
            if change is None:
                continue
            if entry.problem is None:
                if self.changes and not self.budget.may_start():
                    logger.warning("invocation time runs short; Lambda retries the rest of the batch")
                    self.retry_from = position
                    return
                try:
                    intents = self._handle(position, entry, change, latest)
                except TransientFailure:
                    logger.exception(
                        "stream record failed; Lambda will retry from it",
                        extra={"member_id": change.member_id},
                    )
                    self.retry_from = position
                    return
                except Exception as error:
                    entry.problem = f"cannot be handled: {_describe(error)}"
                    entry.fallback = fallback_for(change)
                else:
                    if intents is not None:
                        self._add(position, change, intents)
            if entry.problem is not None:
                self._park_decisions(position, change, latest)
                if entry.fallback:
                    self._add(position, change, entry.fallback)

    def _handle(
        self, position: int, entry: Entry, change: MemberChange, latest: _Latest
    ) -> list[Intent] | None:
        """The record's intents; None when it ran past its budget (parked, its rules decided all the same)."""
        try:
            with self.budget.limit():
                return self._decide(position, entry, change, latest)
        except RecordOverBudget:
            entry.problem = "ran past its time budget (pipeline/record_budget.py)"
            entry.fallback = fallback_for(change)
        if position not in self.ruled:
            # Its rules never ran. They are pure and bounded by the item (DynamoDB: 400 KB at most), so
            # they run now, unbudgeted: the write they owe may be an opt-out, which a park must not drop.
            self._rule(position, change, latest)
        return None

    def _decide(self, position: int, entry: Entry, change: MemberChange, latest: _Latest) -> list[Intent]:
        self._rule(position, change, latest)
        intents = diff(change.old, change.new, change.record_id, change.at_ms, self.volatile_window_s)
        if entry.repairs and not any(isinstance(intent, SyncProfile) for intent in intents):
            # The member may be out of step with what the broken item made of it: sync it anyway.
            intents.insert(0, resync(change.member_id, change.record_id, change.at_ms))
        return intents

    def _rule(self, position: int, change: MemberChange, latest: _Latest) -> None:
        plan = plan_rules(change, latest.get(change.member_id))
        # The write-back and noting its decision, with the budget paused (pipeline/record_budget.py): a
        # budget running out between them would lose the decision; from here on, a park keeps it.
        with self.budget.io():
            try:
                moved_on = self.last_of.get(change.member_id, position) > position
                decided = None if plan is None else apply_rules(change, plan, self.writer, moved_on=moved_on)
            except RecordOverBudget as error:
                raise TransientFailure("the record's budget ran out during its table write") from error
            self._note(position, change, decided, latest)
            self.ruled.add(position)
        if decided is not None and decided.refused:
            raise DecisionNotWritten(decided.refused)

    def _note(self, position: int, change: MemberChange, decided: Decided | None, latest: _Latest) -> None:
        if decided is None:
            latest.pop(change.member_id, None)
            return
        latest[change.member_id] = decided.decision
        self.result.rule_decisions_written += int(decided.wrote)
        self.result.opt_outs_assumed += int(decided.assumed_opt_out)
        self.carried += int(not decided.applied)
        if not decided.applied or decided.keep:
            self.to_keep.append((position, decided.decision))

    def _park_decisions(self, position: int, change: MemberChange, latest: _Latest) -> None:
        """A parked record whose rules were decided keeps that decision (noted); else the one owed to the
        write before it is carried past it (rule_enforcement.carry_past_park)."""
        if position in self.ruled:
            return
        carried = carry_past_park(change, latest.pop(change.member_id, None))
        if carried is not None:
            latest[change.member_id] = carried
            self.carried += 1
            self.to_keep.append((position, carried))

    def park_unkept(self, refused: Sequence[PendingDecision] | None, reason: str) -> None:
        """Records whose decisions the store refused (None: all of them) are parked with its reason."""
        for position, decision in self.to_keep:
            entry = self.batch[position]
            if entry.problem is None and (refused is None or decision in refused):
                entry.problem = f"its rules' decision could not be kept ({reason})"

    def _add(self, position: int, change: MemberChange, intents: list[Intent]) -> None:
        self.changes.append((change, intents))
        self.positions.append(position)

    def note_unpublished(self, first_unsent: int | None) -> None:
        if first_unsent is not None:
            position = self.positions[first_unsent]
            self.retry_from = position if self.retry_from is None else min(position, self.retry_from)

    def finish(self, publisher: IntentPublisher) -> StreamBatchResult:
        result, retry_from = self.result, self.retry_from
        if retry_from is not None:
            # Lambda retries from a sequence number: the first one from the retry point on.
            sequences = [e.sequence_number for e in self.batch[retry_from:] if e.sequence_number]
            result.failed_sequence_numbers = sequences[:1]
        for position, entry in enumerate(self.batch):
            if entry.problem is not None and (retry_from is None or position < retry_from):
                _park(publisher, entry, result)
        result.decisions_carried = self.carried
        result.intents = sum(
            len(intents)
            for (_, intents), position in zip(self.changes, self.positions, strict=True)
            if retry_from is None or position < retry_from
        )
        return result


def _first_old_versions(changes: Sequence[MemberChange]) -> list[tuple[str, str]]:
    """(member id, token of its old image) for each member's first record: later ones chain in memory."""
    wanted: dict[str, str] = {}
    for change in changes:
        if change.member_id not in wanted and change.old is not None:
            wanted[change.member_id] = state_token(repaired(change.old))  # as the rules read it
    return sorted(wanted.items())


def _describe(error: Exception) -> str:
    """The error's type and, for a contract error, its field and rule (never a value)."""
    if isinstance(error, (InvalidMember, DecisionNotWritten, DecisionsNotKept)):
        return str(error)
    return type(error).__name__


def _park(publisher: IntentPublisher, entry: Entry, result: StreamBatchResult) -> None:
    reason = entry.problem or "parked"
    if entry.malformed:
        result.malformed += 1
    else:
        result.contract_violations += 1
    member_id = entry.change.member_id if entry.change is not None else None
    logger.error("stream record parked", extra={"key": safe_key(member_id), "reason": reason})
    publisher.record_stream_failure(entry.record, reason)
