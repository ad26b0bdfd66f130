"""Rate limiting, fault injection and traffic measurement for the emulated API paths.

Faults are drawn from a seeded RNG, so the same requests in the same order meet the same faults. The
traffic meter counts every API request as it arrives (whatever its answer), which is what a client's
pacing must be judged by: the peak number of requests inside any one-second window.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from enum import Enum
from typing import Any

WINDOW_SECONDS = 1.0


class FaultConfigError(ValueError):
    """A fault setting that makes no sense (ratio outside 0..1, unknown key, status not an error)."""


@dataclass(frozen=True)
class FaultConfig:
    """What to do to API requests. `rate_limit_per_s` None (or 0) means unlimited."""

    rate_limit_per_s: int | None = None
    fail_ratio: float = 0.0
    fail_status: int = 503
    latency_ms: int = 0
    drop_ratio: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("fail_ratio", "drop_ratio"):
            ratio = getattr(self, name)
            if not isinstance(ratio, int | float) or isinstance(ratio, bool) or not 0.0 <= ratio <= 1.0:
                raise FaultConfigError(f"{name} must be a number between 0 and 1")
        if not isinstance(self.fail_status, int) or not 400 <= self.fail_status <= 599:
            raise FaultConfigError("fail_status must be an HTTP error status (400-599)")
        if not isinstance(self.latency_ms, int) or self.latency_ms < 0:
            raise FaultConfigError("latency_ms must be a non-negative integer")
        if self.rate_limit_per_s is not None and (
            not isinstance(self.rate_limit_per_s, int) or self.rate_limit_per_s < 0
        ):
            raise FaultConfigError("rate_limit_per_s must be a non-negative integer or null")
        if not isinstance(self.seed, int):
            raise FaultConfigError("seed must be an integer")

    def updated(self, changes: Mapping[str, Any]) -> FaultConfig:
        """A copy with `changes` applied; unknown keys are an error rather than silently ignored."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise FaultConfigError(f"unknown fault settings: {', '.join(unknown)}")
        return replace(self, **dict(changes))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Verdict(Enum):
    """What happens to one API request before the emulator looks at it."""

    SERVE = "serve"
    RATE_LIMITED = "rate_limited"
    FAIL = "fail"
    DROP = "drop"


class TrafficControl:
    """Decides each request's fate and measures traffic; thread-safe and deterministic for a given seed."""

    def __init__(
        self, config: FaultConfig | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._config = config or FaultConfig()
        self._random = random.Random(self._config.seed)  # noqa: S311 - fault injection, not security
        self._admitted: deque[float] = deque()
        self._arrivals: deque[float] = deque()
        self._peak = 0
        self._rate_limited = 0
        self._failed = 0
        self._dropped = 0

    @property
    def config(self) -> FaultConfig:
        with self._lock:
            return self._config

    def configure(self, config: FaultConfig) -> None:
        """Apply new settings; the RNG restarts from the seed so a test's faults do not depend on history."""
        with self._lock:
            self._config = config
            self._random = random.Random(config.seed)  # noqa: S311 - fault injection, not security
            self._admitted.clear()

    def reset(self, config: FaultConfig) -> None:
        with self._lock:
            self._arrivals.clear()
            self._peak = 0
            self._rate_limited = 0
            self._failed = 0
            self._dropped = 0
        self.configure(config)

    def admit(self) -> tuple[Verdict, FaultConfig]:
        """Count the arrival, then decide: rate limit first, then dropped connection, then failure."""
        with self._lock:
            now = self._clock()
            config = self._config
            self._arrivals.append(now)
            _expire(self._arrivals, now)
            self._peak = max(self._peak, len(self._arrivals))
            limit = config.rate_limit_per_s
            if limit:
                _expire(self._admitted, now)
                if len(self._admitted) >= limit:
                    self._rate_limited += 1
                    return Verdict.RATE_LIMITED, config
                self._admitted.append(now)
            if config.drop_ratio and self._random.random() < config.drop_ratio:
                self._dropped += 1
                return Verdict.DROP, config
            if config.fail_ratio and self._random.random() < config.fail_ratio:
                self._failed += 1
                return Verdict.FAIL, config
            return Verdict.SERVE, config

    def stats(self) -> dict[str, Any]:
        with self._lock:
            _expire(self._arrivals, self._clock())
            return {
                "peak_requests_per_second": self._peak,
                "current_window_requests": len(self._arrivals),
                "rate_limited": self._rate_limited,
                "faults_failed": self._failed,
                "faults_dropped": self._dropped,
                "faults": self._config.to_json(),
            }


class SlidingWindowLimiter:
    """At most `limit` admissions in any sliding second (a documented Customer.io limit, always on).

    Unlike the fault settings, this models the real service: the App API's 10 requests a second, or the
    transactional send's 100. A refused request is not counted against the window.
    """

    def __init__(self, limit: int | None, clock: Callable[[], float] = time.monotonic) -> None:
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise FaultConfigError("a rate limit must be a positive integer or None")
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._admitted: deque[float] = deque()
        self.refused = 0

    def admit(self) -> bool:
        if self.limit is None:
            return True
        with self._lock:
            now = self._clock()
            _expire(self._admitted, now)
            if len(self._admitted) >= self.limit:
                self.refused += 1
                return False
            self._admitted.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._admitted.clear()
            self.refused = 0


def _expire(window: deque[float], now: float) -> None:
    """Keep only timestamps inside the one-second window ending now."""
    while window and window[0] <= now - WINDOW_SECONDS:
        window.popleft()
