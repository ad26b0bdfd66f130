"""How a Customer.io request may use the wire: one keep-alive pool, its timeouts and the retry budget.

urllib3 directly, not requests: botocore already loads urllib3, so the pool costs no import at a cold
start (requests and its dependencies cost 10-25% of `import boto3`), and nothing here needs more than a
pool. urllib3 itself never retries: the transport does, so that every wait is checked against a deadline.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

import urllib3
from botocore.httpsession import where as ca_bundle

POOL_SIZE = 10


class Timeouts(NamedTuple):
    """Connect just over a TCP retransmit window (3 s); read long enough for a slow batch."""

    connect_s: float = 3.05
    read_s: float = 10.0


class RetryPolicy(NamedTuple):
    """Bounded, jittered exponential backoff; a Retry-After longer than the cap is not waited for."""

    max_attempts: int = 4
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0
    max_retry_after_s: float = 30.0
    # < 1 only in the local stack's compressed-time tests. A rate limit is Customer.io's clock, not ours:
    # its backoff and any Retry-After stay in real seconds.
    time_scale: float = 1.0

    def scaled(self, time_scale: float) -> RetryPolicy:
        """The same policy on a clock `1 / time_scale` times faster (the local stack's compressed tests)."""
        return self._replace(time_scale=time_scale)

    def delay(self, retry_number: int, rng: random.Random, *, rate_limited: bool = False) -> float:
        """Equal jitter: half the exponential step fixed (so a retry never comes at once), half random."""
        step = min(self.max_delay_s, self.base_delay_s * 2.0**retry_number)
        return (step / 2 + rng.uniform(0, step / 2)) * (1.0 if rate_limited else self.time_scale)


class Pool(Protocol):
    """What the transport needs of a urllib3 PoolManager (tests pass a fake)."""

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: urllib3.Timeout,
        redirect: bool,
        retries: bool,
    ) -> Any: ...


def new_pool(pool_size: int = POOL_SIZE) -> urllib3.PoolManager:
    """Keep-alive connections, verified against the AWS SDK's CA bundle; urllib3 itself never retries
    (the transport does, deadline-aware)."""
    return urllib3.PoolManager(
        num_pools=2, maxsize=pool_size, cert_reqs="CERT_REQUIRED", ca_certs=ca_bundle()
    )
