"""One FIFO message group in one invocation at a time, across a mapping's pollers, as on AWS.

SQS locks a message group only while its message is invisible. On AWS that is enough: Lambda refuses an SQS
mapping whose queue visibility timeout is shorter than the function's timeout, so a group's message cannot
become visible again while an invocation still holds it. The local stack shortens visibility timeouts (a
test's retries in seconds) but not function timeouts, so a slow invocation (a cold start on a busy machine)
outlives its messages' visibility, and another poller of the same mapping could receive the same group and
run it concurrently: a later sync sent before an earlier delete. The pollers of one mapping therefore claim
the groups of a batch before invoking and give them back after acknowledging it; a poller that received a
group another one holds waits for it (holding nothing itself, so two waiters cannot deadlock).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class LaneLocks:
    def __init__(self) -> None:
        self._held: set[str] = set()
        self._changed = threading.Condition()
        self.waits = 0  # how many claims had to wait for another invocation (tests wait on it)

    @contextmanager
    def claim(self, groups: set[str], timeout_s: float) -> Iterator[bool]:
        """Yields True once every group is this caller's (then released on exit), or False after
        `timeout_s` if another caller still holds one (nothing is claimed then)."""
        with self._changed:
            if groups & self._held:
                self.waits += 1
            free = self._changed.wait_for(lambda: not groups & self._held, timeout=timeout_s)
            if free:
                self._held |= groups
        try:
            yield free
        finally:
            if free:
                with self._changed:
                    self._held -= groups
                    self._changed.notify_all()

    def held(self) -> set[str]:
        with self._changed:
            return set(self._held)
