"""How a poller hands a batch to a function: the invocation, the faults AWS may add, and who is told.

A `Delivery` is one function as the pollers see it: `invoke(event)` runs it (through its `Invoker`) and
may lose the answer on purpose (`Faults.crash_after_call`); `duplicate(records)` says whether records
handled successfully are delivered once more (`Faults.duplicate_delivery`). Everything that happens is
reported to the `PumpListener`s (the soak counts the faults it injected this way).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from cio_sync_local.invoker import InvocationResult, Invoker


@dataclass(frozen=True)
class Faults:
    """What the pump may do wrong on purpose, as AWS may: chances per invocation / per batch, seeded.

    crash_after_call: the handler ran (its side effects happened) but its answer is lost, as when an
        execution environment dies (the worker is killed and replaced); the batch is delivered again.
    duplicate_delivery: records handled successfully are delivered once more (SQS: made visible again
        instead of deleted; streams: the batch is replayed), as at-least-once delivery allows.
    functions: limit the faults to these function logical ids (None = every function).
    """

    crash_after_call: float = 0.0
    duplicate_delivery: float = 0.0
    seed: int | None = None
    functions: frozenset[str] | None = None

    def applies_to(self, function: str) -> bool:
        return self.functions is None or function in self.functions


class PumpListener:
    """Told what the pump did; override what you need (every method does nothing here)."""

    def invoked(self, function: str, event: dict[str, Any], result: InvocationResult) -> None:
        """An invocation ended (its result carries the answer, or the failure: InjectedCrash, timeout...)."""

    def duplicated(self, function: str, records: int) -> None:
        """`records` handled successfully will be delivered again (a duplicate delivery fault)."""


class FaultDice:
    """One seeded random source for every fault of a pump (rolls are serialised)."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._random = random.Random(faults.seed)  # noqa: S311 - fault injection, not cryptography
        self._lock = threading.Lock()

    def roll(self, chance: float, function: str) -> bool:
        if chance <= 0 or not self.faults.applies_to(function):
            return False
        with self._lock:
            return self._random.random() < chance


class Delivery:
    """One function as its pollers see it (see the module docstring)."""

    def __init__(
        self,
        function: str,
        invoker: Invoker,
        dice: FaultDice,
        listeners: Sequence[PumpListener],
        around: Callable[[], AbstractContextManager[None]] = nullcontext,
    ) -> None:
        """around: entered for each invocation (the pump's idle check counts invocations with it)."""
        self.function = function
        self.invoker = invoker
        self.dice = dice
        self.listeners = listeners
        self.around = around

    def invoke(self, event: dict[str, Any]) -> InvocationResult:
        crash = self.dice.roll(self.dice.faults.crash_after_call, self.function)
        with self.around():
            result = self.invoker.invoke(event, lose_answer=crash)
        for listener in self.listeners:
            listener.invoked(self.function, event, result)
        return result

    def duplicate(self, records: int) -> bool:
        if not self.dice.roll(self.dice.faults.duplicate_delivery, self.function):
            return False
        for listener in self.listeners:
            listener.duplicated(self.function, records)
        return True
