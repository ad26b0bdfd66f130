"""Batch isolation: find the member whose payload fails a Track batch every time, so its lane goes on.

A retryable failure tied to one payload (a 5xx Customer.io answers only for that member) fails every
request holding it, so without isolation the whole FIFO batch, and every lane in it, waits for the queue's
300 receives (37-74 h). Once a batch has come back ISOLATE_FROM_RECEIVE times, its members are split
in halves, breadth first, each group sent on its own, until each failing member stands alone. A member
whose request fails alone twice in a row (an HTTP 5xx) while others of the same batch got an answer is the
cause: it gets a permanent error (`FailsAlone`), so the consumer parks its intents with the reason, and the
rest is acknowledged. A 207 item error naming a passing condition (`ItemNotApplied`: rate limit, internal
error) never makes a member `FailsAlone`: a partial Customer.io incident parks nobody. When nothing
answers (an outage, a rate limit, a broken configuration) nobody is parked: the batch fails as a whole and
waits, as before. A member's operations always travel together and in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol

from cio_sync.customerio.batch import BatchResult, Identify, Operation
from cio_sync.customerio.errors import (
    ConfigurationError,
    CustomerIoError,
    DeadlineExceeded,
    ItemNotApplied,
    PermanentError,
    RateLimited,
)

# The receive from which a failing batch is split: it has then failed twice in a row (about a minute).
ISOLATE_FROM_RECEIVE: Final = 3
# Failed requests, none answered, after which the failure is taken for an outage: the whole batch, its
# halves and its quarters (two failing members in different halves still leave a quarter that answers).
OUTAGE_AFTER_FAILURES: Final = 7
# Requests a member must fail on its own, in a row, before it is taken for the cause: one lone failure
# may be a passing 5xx that outlived the transport's retries (an innocent member would then be parked).
FAILS_ALONE_TIMES: Final = 2


class TrackSender(Protocol):
    def send_batch(self, operations: Sequence[Operation], deadline: float | None) -> BatchResult: ...


class FailsAlone(PermanentError):
    """A member's operations failed on their own, every time, while the rest of their batch went through."""


def should_isolate(receive_counts: Sequence[int]) -> bool:
    """The batch has failed often enough in a row that splitting it costs less than waiting."""
    return max(receive_counts, default=0) >= ISOLATE_FROM_RECEIVE


def send_isolating(
    sender: TrackSender, operations: Sequence[Operation], deadline: float | None, receives: int
) -> BatchResult:
    """Like `sender.send_batch`, splitting by member whatever fails retryably; raises no Customer.io error.

    Returns each operation's outcome; a member found failing alone gets `FailsAlone`, the others keep
    their own (retryable) error, so they come back later.
    """
    by_member: dict[str, list[int]] = {}
    for index, operation in enumerate(operations):
        by_member.setdefault(operation.member_id, []).append(index)
    errors: dict[int, CustomerIoError] = {}
    alone: dict[str, CustomerIoError] = {}
    lone: dict[str, int] = {}
    last_failure: dict[str, CustomerIoError] = {}
    pending: list[list[str]] = [list(by_member)]
    answered, unanswered = False, 0
    while pending:
        group = pending.pop(0)
        indexes = sorted(index for member in group for index in by_member[member])
        try:
            result = sender.send_batch([operations[index] for index in indexes], deadline)
        except CustomerIoError as error:
            if _stop(error, answered, unanswered + 1):
                for member in [m for g in [group, *pending] for m in g]:
                    errors.update(dict.fromkeys(by_member[member], error))
                break
            failures: dict[str, CustomerIoError] = dict.fromkeys(group, error)
        else:
            failures = _retryable_failures(result, [operations[index] for index in indexes])
            _keep_passing_item_errors(failures, by_member, errors)
            for position, index in enumerate(indexes):
                outcome = result[position]
                if operations[index].member_id not in failures:
                    answered = True
                    if outcome is not None:
                        errors[index] = outcome
        unanswered += 0 if answered or not failures else 1
        last_failure.update(failures)
        pending += _next_groups(group, failures, lone, alone, answered)
        if pending and not answered and unanswered >= OUTAGE_AFTER_FAILURES:
            # Nobody answered: an outage, or a batch whose every member fails. Nobody is parked for it.
            for member in [m for g in pending for m in g]:
                errors.update(dict.fromkeys(by_member[member], last_failure[member]))
            break
    up = (
        bool(alone)
        and answered
        and _still_answering(
            sender, operations=operations, by_member=by_member, errors=errors, alone=alone, deadline=deadline
        )
    )
    for member, failure in alone.items():
        found = FailsAlone(failure.status, f"fails alone after {receives} receives of its batch: {failure}")
        errors.update(dict.fromkeys(by_member[member], found if up else failure))
    return BatchResult(len(operations), errors)


def _still_answering(
    sender: TrackSender,
    *,
    operations: Sequence[Operation],
    by_member: dict[str, list[int]],
    errors: dict[int, CustomerIoError],
    alone: dict[str, CustomerIoError],
    deadline: float | None,
) -> bool:
    """After the lone failures, Customer.io still answers another member of the batch: the failures were
    the payload's, not an outage that began between requests (one probe: an accepted member's identifies
    again, which Customer.io applies as before)."""
    accepted = [m for m, found in by_member.items() if m not in alone and not any(i in errors for i in found)]
    probe = (
        [operations[i] for i in by_member[accepted[0]] if isinstance(operations[i], Identify)]
        if accepted
        else []
    )
    if not probe:
        return False
    try:
        result = sender.send_batch(probe, deadline)
    except CustomerIoError:
        return False
    return all(result[position] is None for position in range(len(probe)))


def _keep_passing_item_errors(
    failures: dict[str, CustomerIoError], by_member: dict[str, list[int]], errors: dict[int, CustomerIoError]
) -> None:
    """An item error naming a passing condition (rate limit, internal error) says nothing against the
    payload: that member keeps its retryable error, is not sent again, and is never parked."""
    for member in [m for m, failure in failures.items() if isinstance(failure, ItemNotApplied)]:
        errors.update(dict.fromkeys(by_member[member], failures.pop(member)))


def _next_groups(
    group: list[str],
    failures: dict[str, CustomerIoError],
    lone: dict[str, int],
    alone: dict[str, CustomerIoError],
    answered: bool,
) -> list[list[str]]:
    """The groups to send next for `group`'s failing members: halves, a lone member again, or none.

    A lone failure counts only once Customer.io has answered someone in this invocation: failures before
    that (an outage that ends mid-isolation) say nothing about the payload.
    """
    failing = list(failures)
    if len(group) == 1 and failing:
        if not answered:
            return [group]
        lone[group[0]] = lone.get(group[0], 0) + 1
        if lone[group[0]] >= FAILS_ALONE_TIMES:
            alone[group[0]] = failures[group[0]]
            return []
        return [group]
    if len(failing) <= 1:
        return [failing] if failing else []
    half = len(failing) // 2
    return [failing[:half], failing[half:]]


def _retryable_failures(result: BatchResult, sent: Sequence[Operation]) -> dict[str, CustomerIoError]:
    """The members of one request that some operation failed retryably for (in order), with that error."""
    failures: dict[str, CustomerIoError] = {}
    for position, operation in enumerate(sent):
        outcome = result[position]
        if outcome is not None and outcome.retryable:
            failures.setdefault(operation.member_id, outcome)
    return failures


def _stop(error: CustomerIoError, answered: bool, unanswered: int) -> bool:
    """Whether splitting further cannot help: no time left, or a failure of everything, not of a payload."""
    if isinstance(error, DeadlineExceeded | ConfigurationError | RateLimited) or not error.retryable:
        return True
    return not answered and unanswered >= OUTAGE_AFTER_FAILURES
