"""The per-record time budget of member-stream: no single record may hold its shard.

A Lambda timeout is not an exception: the whole batch is retried from its first record until the record
is a day old, while the shard waits. So the batch stops starting records before the invocation's end
(the rest are reported as batch item failures and retried in a fresh invocation), and a record whose own
work (decisions, payloads, the diff) runs past its budget is interrupted and parked with its reason. Its
I/O runs outside the budget (`io()`): a slow table is the adapters' to bound and retry, and parking a sound
record for it would lose its rule decisions; a budget spent during I/O anyway is a retryable failure. The
rule write-back and the noting of its decision share one `io()`: a park after it keeps the decision, and
rules the budget cut off before they ran run after the park, unbudgeted (pure, bounded by the item's size).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class RecordOverBudget(Exception):
    """Raised inside a record's work when its budget is spent (the handler's timer, or a test's)."""


class RecordBudget(Protocol):
    def may_start(self) -> bool:
        """True while the invocation has time for one more record (its full budget)."""
        ...

    def limit(self) -> AbstractContextManager[None]:
        """Run one record's work; RecordOverBudget is raised inside it once the record's budget is spent."""
        ...

    def io(self) -> AbstractContextManager[None]:
        """Run I/O inside `limit()` with the record's budget paused; its time does not count."""
        ...


class Unlimited:
    """No Lambda context (a test, the local stack's in-process call): every record starts and finishes."""

    def may_start(self) -> bool:
        return True

    @contextmanager
    def limit(self) -> Iterator[None]:
        yield

    @contextmanager
    def io(self) -> Iterator[None]:
        yield
