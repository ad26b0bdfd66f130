"""The one failure kind every layer shares: work that may succeed if it is simply tried again later."""

from __future__ import annotations


class TransientFailure(Exception):
    """A store or queue failed in a way that may pass by itself (throttled, unreachable): retry the work.

    Adapters raise it for AWS failures that are not about the data; anything else a record causes is
    its own problem and is parked with its reason instead of blocking the work behind it.
    """
