"""Client-side pacing: a token bucket so one process never sends faster than its share of the fair-use limit.

The bucket holds one token, refilled every 1/rate seconds, so requests go out evenly spaced rather than
in bursts. Customer.io counts requests per second on its side, after network and scheduling jitter: a
request that leaves a few milliseconds late must not let the next one catch up with the schedule, or
the two land closer together than the rate allows. So the spacing is enforced between the moments
requests are actually let go (not only between reserved slots), and tokens are spaced a little wider
(`safety_margin`) than 1/rate to absorb what jitter remains after that.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

DEFAULT_SAFETY_MARGIN = 0.02


class TokenBucket:
    """Thread-safe. A caller reserves the next slot under the lock, sleeps outside it, then is let go
    only once the previous release is at least one interval in the past."""

    def __init__(
        self,
        rate_per_s: float,
        *,
        safety_margin: float = DEFAULT_SAFETY_MARGIN,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.rate_per_s = rate_per_s
        self.interval_s = (1.0 + safety_margin) / rate_per_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = clock()
        self._last_release: float | None = None

    def reserve(self, deadline: float | None = None) -> float | None:
        """Claim the next slot; return how long to wait for it, or None (claiming nothing) if that
        would pass the deadline."""
        with self._lock:
            now = self._clock()
            slot = max(self._next_slot, now)
            if deadline is not None and slot > deadline:
                return None
            self._next_slot = slot + self.interval_s
            return slot - now

    def acquire(self, deadline: float | None = None) -> bool:
        """Wait until a request may go; False (having waited no further) if that comes after the deadline."""
        wait = self.reserve(deadline)
        while wait is not None:
            if wait > 0:
                self._sleep(wait)
            wait = self.release(deadline)
            if wait == 0:
                return True
        return False

    def release(self, deadline: float | None = None) -> float | None:
        """0 when released now; else how much longer to wait, or None if that would pass the deadline."""
        with self._lock:
            now = self._clock()
            earliest = now if self._last_release is None else self._last_release + self.interval_s
            if now >= earliest:
                self._last_release = now
                self._next_slot = max(self._next_slot, now + self.interval_s)
                return 0.0
            if deadline is not None and earliest > deadline:
                return None
            return earliest - now
