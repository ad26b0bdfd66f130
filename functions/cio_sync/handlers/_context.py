"""What every handler needs from Lambda's context: a deadline for in-process retries."""

from __future__ import annotations

import time
from typing import Any

# Leave this much of the invocation for answering Lambda (partial batch response, metrics flush).
SAFETY_MARGIN_S = 5.0


def deadline_from(context: Any) -> float | None:
    """An absolute time.monotonic() value past which no retry may sleep; None without a Lambda context."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    remaining_s = float(remaining()) / 1000
    return time.monotonic() + max(remaining_s - SAFETY_MARGIN_S, 0.5)
