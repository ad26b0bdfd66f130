"""The pump: plays the deployed event source mappings against moto server, as the Lambda service does.

moto never runs Lambda code for event source mappings without Docker (and the local stack's moto server is
told not to try), so this does what the Lambda service does, mapping by mapping as the Lambda API
describes them: a DynamoDB stream mapping reads its stream (`stream_poller`), an SQS mapping its queue
(`sqs_poller`), and each hands batches to its function through a `Delivery` (the function's invoker, the
faults, the listeners). The pump owns the threads, `hold()`, the statistics and the idle check
(`idleness`); the pollers know nothing of it.

Concurrency is Lambda's: an SQS mapping runs up to its ScalingConfig.MaximumConcurrency batches at once
(`DEFAULT_SQS_CONCURRENCY` without one), a stream mapping one batch per shard. Of an SQS mapping's pollers
the first (the scout) polls all the time, backing off while it finds nothing; the others join only while
batches keep coming (each batch received wakes one more), so an idle stack polls each queue once per round,
as few as Lambda's own scaled-in pollers. A batch delivered wakes the scouts of what its function may have
written to: the streams, and the queues its environment names (how the functions find their queues).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from cio_sync_local.clients import aws_client
from cio_sync_local.delivery import Delivery, FaultDice, Faults, PumpListener
from cio_sync_local.description import MappingSpec, StackDescription
from cio_sync_local.idleness import IDLE_SLEEP_MIN_S, SCOUT_SLEEP_MAX_S, Idleness, IdleReport, queue_reasons
from cio_sync_local.invoker import Invoker
from cio_sync_local.lanes import LaneLocks
from cio_sync_local.poller import Poller
from cio_sync_local.sqs_poller import SqsPoller
from cio_sync_local.stream_poller import StreamPoller

log = logging.getLogger("cio_sync_local.pump")

# Lambda scales an SQS mapping without MaximumConcurrency out much further; two keep a small machine calm.
DEFAULT_SQS_CONCURRENCY = 2
HELPER_WAIT_S = 0.5
HOLD_WAIT_S = 300.0  # a poll under way includes its invocation, which the function's timeout bounds

__all__ = ["DEFAULT_SQS_CONCURRENCY", "Faults", "IdleReport", "Pump", "PumpListener", "concurrency"]


def concurrency(mapping: MappingSpec) -> int:
    """How many batches of this mapping may be in flight at once."""
    if mapping.kind == "dynamodb":
        return 1  # per shard; moto keeps one shard per stream
    return mapping.maximum_concurrency or DEFAULT_SQS_CONCURRENCY


@dataclass
class _MappingRun:
    """One mapping: its pollers (the first one, the scout, always polls) and the helpers' wake-ups."""

    mapping: MappingSpec
    pollers: list[Poller]
    polls: int = 0  # the scout's polls: what the idle check counts
    wakes: int = 0  # how often the scout was woken: a scout that polled meanwhile polls again
    help_wanted: int = 0
    signal: threading.Condition = field(default_factory=threading.Condition)

    @property
    def pending(self) -> str | None:
        return next((reason for poller in self.pollers if (reason := poller.pending)), None)

    def want_help(self) -> None:
        with self.signal:
            self.help_wanted = min(self.help_wanted + 1, len(self.pollers) - 1)
            self.signal.notify()

    def wait_for_help_wanted(self, timeout: float) -> bool:
        with self.signal:
            if not self.help_wanted:
                self.signal.wait(timeout)
            if self.help_wanted:
                self.help_wanted -= 1
                return True
            return False


class _Inside(threading.local):
    function: str | None = None


class Pump:
    """Runs every enabled mapping's pollers on threads; `wait_idle()` answers `drain`."""

    def __init__(
        self,
        description: StackDescription,
        invokers: Mapping[str, Invoker],
        faults: Faults | None = None,
        *,
        time_scale: float = 1.0,
        listeners: Sequence[PumpListener] = (),
    ) -> None:
        self.description = description
        self.invokers = dict(invokers)
        self.dice = FaultDice(faults or Faults())
        self.listeners: list[PumpListener] = list(listeners)
        self.deliveries = {
            function: Delivery(function, invoker, self.dice, self.listeners, around=self.invoking)
            for function, invoker in self.invokers.items()
        }
        self.runs = [
            _MappingRun(mapping, self._pollers(mapping, time_scale))
            for mapping in description.mappings
            if mapping.enabled
        ]
        streams = [run for run in self.runs if run.mapping.kind == "dynamodb"]
        self._downstream = {function: self._written_by(function) for function in self.invokers}
        self._sqs = aws_client("sqs", description.context)
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._held: set[str] = set()
        self._polling: dict[str, int] = {}  # polls under way, per function: what hold() waits out
        self._held_change = threading.Condition()
        self._inside = _Inside()  # the function this thread is polling for, if any
        self.errors = 0
        sources = sorted({run.mapping.source for run in self.runs if run.mapping.kind == "sqs"})
        self.idleness = Idleness(
            watched=self.runs,
            streams=streams,
            queues=lambda first_only: queue_reasons(
                self._sqs, [description.queues[source] for source in sources], first_only=first_only
            ),
            held=self._held_reasons,
            wake_streams=lambda: self.wake(streams),
            run_once=self.run_once,
        )

    def invoking(self) -> AbstractContextManager[None]:
        """Around an invocation the pump did not make (a function URL's): the idle check counts it."""
        return self.idleness.invoking()

    def _written_by(self, function: str) -> list[_MappingRun]:
        """The mappings whose source this function's invocation may have written to: every stream (the
        functions write members), and each queue whose URL is in the function's environment."""
        spec = self.description.functions.get(function)
        named = set(spec.environment.values()) if spec is not None else set()
        return [
            run
            for run in self.runs
            if run.mapping.kind == "dynamodb" or self.description.queues[run.mapping.source].url in named
        ]

    def _held_reasons(self) -> list[str]:
        with self._held_change:
            return [f"{function} is held" for function in sorted(self._held)]

    def _pollers(self, mapping: MappingSpec, time_scale: float) -> list[Poller]:
        context = self.description.context
        delivery = self.deliveries[mapping.function]
        if mapping.kind == "dynamodb":
            destination = self.description.queues[mapping.on_failure] if mapping.on_failure else None
            return [
                StreamPoller(
                    mapping,
                    delivery,
                    function_arn=self.description.functions[mapping.function].arn,
                    streams=aws_client("dynamodbstreams", context),
                    sqs=aws_client("sqs", context),
                    destination=destination,
                    region=context.region,
                    time_scale=time_scale,
                )
            ]
        queue = self.description.queues[mapping.source]
        sqs = aws_client("sqs", context)
        lanes = LaneLocks() if queue.fifo else None
        timeout_s = self.description.functions[mapping.function].timeout_s
        return [
            SqsPoller(
                mapping,
                delivery,
                queue=queue,
                sqs=sqs,
                region=context.region,
                time_scale=time_scale,
                lanes=lanes,
                claim_timeout_s=2.0 * timeout_s,
            )
            for _ in range(concurrency(mapping))
        ]

    # -- faults and listeners

    @property
    def faults(self) -> Faults:
        return self.dice.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self.dice.faults = faults

    def add_listener(self, listener: PumpListener) -> None:
        self.listeners.append(listener)

    # -- running

    def run_once(self) -> int:
        """One poll of every mapping, in this thread (for tests that want to step the pump)."""
        return sum(self._poll(run, run.pollers[0], scout=True) for run in self.runs)

    @contextmanager
    def hold(self, function: str) -> Iterator[None]:
        """While held, the function's mappings do not poll: as if it had not run yet (a backlog).

        Lets a test land several writes before the stream is read, deterministically: a poll already
        under way when the hold begins (it may receive what the test sends next) is waited out first.
        """
        if self._inside.function == function:
            raise RuntimeError(f"{function}: a hold from inside its own poll would wait for itself")
        with self._held_change:
            self._held.add(function)
            if not self._held_change.wait_for(lambda: not self._polling.get(function), HOLD_WAIT_S):
                self._held.discard(function)
                raise TimeoutError(f"{function}: a poll was still under way after {HOLD_WAIT_S:.0f} s")
        try:
            yield
        finally:
            with self._held_change:
                self._held.discard(function)
            self.wake()

    def _poll(self, run: _MappingRun, poller: Poller, *, scout: bool) -> int:
        function = run.mapping.function
        with self._held_change:
            if function in self._held:
                return 0  # not a poll: a held mapping never looks idle
            self._polling[function] = self._polling.get(function, 0) + 1
        self._inside.function = function
        try:
            work = poller.poll_once()
        except Exception:
            if self._stop.is_set():
                return 0
            self.errors += 1
            log.exception("%s: polling failed", poller.label)
            work = 0
        finally:
            self._inside.function = None
            with self._held_change:
                self._polling[function] -= 1
                self._held_change.notify_all()
        poller.stats.polls += 1
        if scout:
            run.polls += 1
        if work:
            self.wake(self._downstream.get(function, []))  # what it sent waits in another mapping's source
            if len(run.pollers) > 1:
                run.want_help()
        self.idleness.polled()
        return work

    def start(self) -> Pump:
        for run in self.runs:
            for index, poller in enumerate(run.pollers):
                target = self._scout if index == 0 else self._helper
                thread = threading.Thread(
                    target=target, args=(run, poller), name=f"pump-{poller.label}-{index}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        self.idleness.running = True
        return self

    def _scout(self, run: _MappingRun, poller: Poller) -> None:
        sleep = IDLE_SLEEP_MIN_S
        while not self._stop.is_set():
            wakes = run.wakes
            if self._poll(run, poller, scout=True):
                sleep = IDLE_SLEEP_MIN_S
                continue
            with self._wake:
                if self._wake.wait_for(partial(self._woken, run, wakes), sleep):
                    continue  # woken (during the poll, or while sleeping): poll again now
            sleep = min(sleep * 2, SCOUT_SLEEP_MAX_S)

    def _woken(self, run: _MappingRun, wakes: int) -> bool:
        return run.wakes != wakes or self._stop.is_set()

    def _helper(self, run: _MappingRun, poller: Poller) -> None:
        """Polls while batches keep coming, then waits until a batch somewhere in the mapping wants help."""
        while not self._stop.is_set():
            if run.wait_for_help_wanted(HELPER_WAIT_S):
                while not self._stop.is_set() and self._poll(run, poller, scout=False):
                    pass

    def wake(self, runs: Sequence[_MappingRun] | None = None) -> None:
        """Have these mappings' scouts (every scout: None) poll now, not at the end of their back-off."""
        with self._wake:
            for run in self.runs if runs is None else runs:
                run.wakes += 1
            self._wake.notify_all()

    def stop(self) -> None:
        self._stop.set()
        self.wake()
        for run in self.runs:
            with run.signal:
                run.signal.notify_all()
        stopping = [threading.Thread(target=invoker.stop) for invoker in self.invokers.values()]
        for thread in stopping:  # a poller waiting on a long invocation gets its answer now
            thread.start()
        for thread in stopping:
            thread.join()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()
        self.idleness.running = False

    # -- idleness

    def idle_report(self, timeout: float) -> IdleReport:
        return self.idleness.idle_report(timeout)

    def wait_idle(self, timeout: float) -> IdleReport:
        def pause(seconds: float) -> None:
            with self._wake:
                self._wake.wait(seconds)

        return self.idleness.wait_idle(timeout, pause)

    def stats(self) -> dict[str, Any]:
        """Per mapping (`Function/Mapping`): polls, invocations, failed invocations, records, and more."""
        stats: dict[str, Any] = {}
        for run in self.runs:
            pollers = run.pollers
            label = pollers[0].label
            entry: dict[str, Any] = {
                "polls": sum(poller.stats.polls for poller in pollers),
                "invocations": sum(poller.stats.invocations for poller in pollers),
                "failed_invocations": sum(poller.stats.failed_invocations for poller in pollers),
                "records": sum(poller.stats.records_delivered for poller in pollers),
                "concurrency": len(pollers),
            }
            for poller in pollers:
                for name, value in poller.extra_stats().items():
                    entry[name] = entry.get(name, 0) + value
            stats[label] = entry
        return stats
