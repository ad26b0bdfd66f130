"""What the Track and App clients share: one pooled, paced, retrying transport per client, built once."""

from __future__ import annotations

import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from cio_sync.adapters.customerio.credentials import Credentials, CredentialsProvider, as_provider
from cio_sync.adapters.customerio.pacing import TokenBucket
from cio_sync.adapters.customerio.transport import Transport
from cio_sync.adapters.customerio.transport_policy import Pool, RetryPolicy, Timeouts
from cio_sync.customerio.regions import Region


class CustomerIoClient(ABC):
    """One per process (its function's composition root builds it): one connection pool, one pacing bucket."""

    api: ClassVar[str]
    hosts: ClassVar[Mapping[Region, str]]
    default_rate_per_s: ClassVar[float]

    def __init__(
        self,
        credentials: Credentials | CredentialsProvider,
        *,
        base_url: str | None = None,
        region: Region = "us",
        rate_per_s: float | None = None,
        enabled: bool = True,
        pool: Pool | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        provider = as_provider(credentials)
        self.enabled = enabled
        self.rate_per_s = rate_per_s or self.default_rate_per_s
        self.base_url = (base_url or self.hosts[region]).rstrip("/")
        self._transport = Transport(
            self.api,
            self.base_url,
            lambda: self.authorization(provider()),  # read per request: a rotated key needs no restart
            TokenBucket(self.rate_per_s, clock=clock, sleep=sleep),
            pool=pool,
            timeouts=timeouts,
            retry=retry,
            clock=clock,
            sleep=sleep,
            rng=rng,
        )

    @staticmethod
    @abstractmethod
    def authorization(credentials: Credentials) -> dict[str, str]:
        """The Authorization header this API expects."""

    def get_json(self, path: str, *, operation: str, deadline: float | None = None) -> Any:
        """GET a JSON document (the preflight's reads); raises the typed CustomerIoError on failure."""
        return self._transport.send("GET", path, None, operation=operation, deadline=deadline).json()
