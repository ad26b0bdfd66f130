"""When is the pipeline idle? The answer to `cio-sync local drain` and to every test's `stack.drain()`.

Idle means: no invocation ran from the start of the check to its end, every stream mapping polled twice in
that time (so one whole read began after the question) and found nothing, no poller holds records for a
retry or a batching window, no mapping is held, and every source queue is empty with nothing in flight or
delayed. Queues are read, not polled: a message a poller received is in flight until it is deleted, which
is after its invocation ended, so an empty queue with no invocation in the window cannot hide work (and
what a function sends lands before its invocation ends). A check first looks at the pollers and queues
and says busy at once if they show work; otherwise it wakes the stream pollers for each of its two polls,
so it is not slowed by their idle back-off.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from cio_sync_local.description import QueueSpec

IDLE_SLEEP_MIN_S = 0.02
IDLE_SLEEP_MAX_S = 0.5  # between a drain's checks
# An idle scout's longest sleep. Nothing it could miss waits that long for it: a poll that delivered work
# wakes the scouts of the queues its function names and of the streams (see `pump`), an invocation through
# a function URL wakes every scout, and a drain wakes the stream scouts for each of its polls.
SCOUT_SLEEP_MAX_S = 2.0


NO_ROUND_IN_TIME = "the pump did not finish a round of polls in time"


@dataclass(frozen=True)
class IdleReport:
    idle: bool
    reasons: tuple[str, ...]  # why not idle, for a one-line message


class Watched(Protocol):
    """A mapping as idleness sees it: how often it polled, and why it may still hold work."""

    @property
    def polls(self) -> int: ...

    @property
    def pending(self) -> str | None: ...


def queue_reasons(sqs: Any, queues: Sequence[QueueSpec], *, first_only: bool = False) -> list[str]:
    """Each source queue that still has messages waiting, in flight or delayed, in one phrase (only the
    first such queue with `first_only`: enough to say busy)."""
    reasons: list[str] = []
    for queue in queues:
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue.url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        visible = int(attributes["ApproximateNumberOfMessages"])
        in_flight = int(attributes["ApproximateNumberOfMessagesNotVisible"])
        delayed = int(attributes["ApproximateNumberOfMessagesDelayed"])
        if visible or in_flight or delayed:
            reasons.append(f"{queue.logical_id}: {visible} waiting, {in_flight} in flight, {delayed} delayed")
            if first_only:
                break
    return reasons


class Idleness:
    """Poll and invocation counting and the idle check; the pump reports each poll with `polled()` and
    runs each invocation inside `invoking()`."""

    def __init__(
        self,
        *,
        watched: Sequence[Watched],
        streams: Sequence[Watched],
        queues: Callable[[bool], list[str]],  # queue_reasons of the source queues; True: the first only
        held: Callable[[], list[str]],  # the functions held, one phrase each
        wake_streams: Callable[[], None],
        run_once: Callable[[], int],
    ) -> None:
        self._watched = watched
        self._streams = streams
        self._queues = queues
        self._held = held
        self._wake_streams = wake_streams
        self._run_once = run_once
        self._progress = threading.Condition()
        self.invocations = 0  # begun, ever
        self.invoking_now = 0
        self.running = False  # pollers run on their own threads (else a check polls once itself)

    def polled(self) -> None:
        """A poll ended (after the mapping counted it)."""
        with self._progress:
            self._progress.notify_all()

    @contextmanager
    def invoking(self) -> Iterator[None]:
        """Around each invocation the pump makes: a check that saw one begin or run is not a verdict."""
        with self._progress:
            self.invocations += 1
            self.invoking_now += 1
        try:
            yield
        finally:
            with self._progress:
                self.invoking_now -= 1

    def _polls_since(self, counts: Mapping[int, int], enough: int) -> bool:
        return all(watched.polls >= counts[id(watched)] + enough for watched in self._streams)

    def idle_report(self, timeout: float) -> IdleReport:
        """One check (see the module docstring), within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._progress:
            counts = {id(watched): watched.polls for watched in self._streams}
            invocations, invoking = self.invocations, self.invoking_now
        if invoking:
            return IdleReport(False, (f"{invoking} invocation(s) under way",))
        return self._check(counts, invocations, deadline)

    def _check(self, counts: Mapping[int, int], invocations: int, deadline: float) -> IdleReport:
        if self.running and (busy := self._busy(first_only=True)):  # work in sight: no need for the polls
            return IdleReport(False, tuple(busy))
        reasons: list[str] = []
        if self.running:
            if not (self._round(counts, 1, deadline) and self._round(counts, 2, deadline)):
                # Not a verdict on its own: the queues below still say what is busy.
                reasons.append(NO_ROUND_IN_TIME)
        else:
            self._run_once()
        reasons.extend(self._busy())
        with self._progress:  # last: what ran during the reads above makes them no verdict
            if self.invocations != invocations or self.invoking_now:
                reasons.append("records were delivered during the check")
        return IdleReport(not reasons, tuple(reasons))

    def _busy(self, *, first_only: bool = False) -> list[str]:
        """What is held, what the pollers hold and the source queues still have, each in one phrase. With
        `first_only`, the queues are asked only when nothing else is busy, and only up to the first busy
        one: each question is a request to moto server, and a drain asks often."""
        held = self._held() + [reason for watched in self._watched if (reason := watched.pending)]
        if held and first_only:
            return held
        return held + self._queues(first_only)

    def _round(self, counts: Mapping[int, int], polls: int, deadline: float) -> bool:
        """Wake the stream pollers and wait until each has polled `polls` times since `counts`; False: no
        time."""
        self._wake_streams()
        with self._progress:
            while not self._polls_since(counts, polls):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._progress.wait(min(remaining, 0.2))
        return True

    def wait_idle(self, timeout: float, pause: Callable[[float], None]) -> IdleReport:
        """Block until idle or until `timeout` seconds pass; returns the last report (reasons say why not).

        A check that could not finish in the time left would only hide the last full report, so none is
        started then. Checks back off (up to half a second apart, `pause` sleeps) while the pipeline stays
        busy, so a long drain does not keep moto server spinning.
        """
        deadline = time.monotonic() + timeout
        report = IdleReport(False, ("not checked",))
        interval = IDLE_SLEEP_MIN_S
        last_check_s = 0.0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (report.reasons != ("not checked",) and remaining < last_check_s):
                return report
            started = time.monotonic()
            report = self.idle_report(remaining)
            last_check_s = time.monotonic() - started
            if report.idle:
                return report
            pause(min(interval, max(deadline - time.monotonic(), 0)))
            interval = min(interval * 2, IDLE_SLEEP_MAX_S)
