"""JSON as Customer.io's APIs take it: the value type, and the exact bytes that are measured and sent.

Its own module so the App client (email) needs none of the Track batch machinery.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

JsonValue = str | int | float | bool | None | Sequence["JsonValue"] | Mapping[str, "JsonValue"]


def encode(document: object) -> bytes:
    """Compact UTF-8 JSON, the exact bytes that are measured and sent."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
