"""What every event source mapping's poller shares: one receive -> invoke -> acknowledge round at a time."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from cio_sync_local.delivery import Delivery
from cio_sync_local.description import MappingSpec
from cio_sync_local.invoker import InvocationResult


@dataclass
class PollerStats:
    polls: int = 0
    records_delivered: int = 0
    invocations: int = 0
    failed_invocations: int = 0


class Poller(ABC):
    """One mapping's poller; `poll_once()` polls the source once and invokes the function if there is work.

    It knows its mapping, its source and the function it delivers to (a `Delivery`), never the pump.
    """

    def __init__(self, mapping: MappingSpec, delivery: Delivery) -> None:
        self.mapping = mapping
        self.delivery = delivery
        self.stats = PollerStats()

    @property
    def label(self) -> str:
        return f"{self.mapping.function}/{self.mapping.name}"

    @property
    def pending(self) -> str | None:
        """Why this poller is not idle between polls (records held for a retry or a batching window)."""
        return None

    @abstractmethod
    def poll_once(self) -> int:
        """Poll the source once and invoke the function if there is work; return the records delivered."""

    def invoke(self, event: dict[str, Any]) -> InvocationResult:
        result = self.delivery.invoke(event)
        self.stats.invocations += 1
        self.stats.records_delivered += len(event["Records"])
        self.stats.failed_invocations += result.error is not None
        return result

    def extra_stats(self) -> dict[str, int]:
        """Counters of this kind of poller, for `Pump.stats()`."""
        return {}
