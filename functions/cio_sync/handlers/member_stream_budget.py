"""member-stream's record budget from Lambda's context: the invocation's remaining time, and a timer
that interrupts a record running past its share (pipeline/record_budget.py says why).

A real-time interval timer (SIGALRM) is the only way to stop pure Python work that overruns; Lambda runs
the handler in the main thread, the only one a signal reaches. Elsewhere (a worker thread) records are
not interrupted, and the batch still stops starting records in time.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, Final

from cio_sync.pipeline.record_budget import RecordBudget, RecordOverBudget, Unlimited

# One record's work is bounded by the payload caps to milliseconds; 10 s means something is wrong.
RECORD_BUDGET_S: Final = 10.0
# Kept for what follows the records: publishing their intents and answering Lambda.
RESERVE_S: Final = 10.0


class InvocationBudget:
    def __init__(
        self,
        remaining_s: Callable[[], float],
        record_s: float = RECORD_BUDGET_S,
        reserve_s: float = RESERVE_S,
    ) -> None:
        self._remaining_s = remaining_s
        self._record_s = record_s
        self._reserve_s = reserve_s

    def may_start(self) -> bool:
        return self._remaining_s() - self._reserve_s >= self._record_s

    @contextmanager
    def limit(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        # The full budget even for a batch's first record (which starts whatever the time): parking a sound
        # record for a short invocation would be worse than the timeout it avoids.
        previous = signal.signal(signal.SIGALRM, _over_budget)
        outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, self._record_s)
        started = time.monotonic()
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            if outer_delay > 0:  # someone else's timer (a test runner's): give it back what is left
                left = max(outer_delay - (time.monotonic() - started), 0.001)
                signal.setitimer(signal.ITIMER_REAL, left, outer_interval)


def _over_budget(signum: int, frame: FrameType | None) -> None:
    raise RecordOverBudget


def budget_from(context: Any) -> RecordBudget:
    """The budget of this invocation; unlimited without a Lambda context."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return Unlimited()
    return InvocationBudget(lambda: float(remaining()) / 1000)
