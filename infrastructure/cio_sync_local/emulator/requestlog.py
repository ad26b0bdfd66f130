"""The request log behind `GET /_emulator/requests`: what each API request was, with its JSON body.

Two bounds keep a long local run from growing without limit:

- at most `size` requests are kept (a ring buffer: when full, the oldest entry is dropped for the newest);
- their bodies together take at most `body_bytes` bytes (measured as sent). Past that, the oldest entries
  lose their body first (`body_kept` becomes false, `body` null) while their method, path, status, time
  and operation count stay. A single body larger than the whole budget is never kept.

Credentials are never stored: request headers are not recorded at all (so neither `Authorization` nor
anything else a client sends in a header), and query parameters whose name says they are a secret are
replaced with `[redacted]`. Bodies are stored parsed, as JSON values; treat what `records()` returns as
read-only.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

REQUEST_LOG_SIZE = 10_000
"""Default number of requests kept: enough for any test, bounded for long local runs."""
REQUEST_LOG_BODY_BYTES = 16 * 1024 * 1024
"""Default budget for the bodies kept, in bytes as sent (about 500 full v2 batches, or 50,000 identifies)."""
REDACTED = "[redacted]"
SECRET_PARAMETER_WORDS = ("key", "token", "secret", "password", "auth", "signature", "credential", "site_id")
"""A query parameter whose lower-cased name contains one of these is never stored as sent."""


def scrubbed_query(query: str) -> dict[str, str]:
    """The query string as a dict (the last value wins), secret-looking parameters redacted."""
    result: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        lowered = name.lower()
        secret = any(word in lowered for word in SECRET_PARAMETER_WORDS)
        result[name] = REDACTED if secret else value
    return result


def parsed_body(raw: bytes) -> Any:
    """The body as a JSON value; None when there is none or it is not JSON."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


@dataclass
class RequestRecord:
    method: str
    path: str
    status: int
    time: float
    operations: int
    query: dict[str, str]
    body: Any
    body_size: int
    body_kept: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "time": self.time,
            "operations": self.operations,
            "query": dict(self.query),
            "body": self.body,
            "body_size": self.body_size,
            "body_kept": self.body_kept,
        }


class RequestLog:
    """A bounded, ordered log of requests; not thread-safe on its own (the state's lock guards it)."""

    def __init__(self, size: int = REQUEST_LOG_SIZE, body_bytes: int = REQUEST_LOG_BODY_BYTES) -> None:
        if size < 1:
            raise ValueError("the request log must keep at least one request")
        if body_bytes < 0:
            raise ValueError("the request log's body budget cannot be negative")
        self.size = size
        self.body_bytes = body_bytes
        self._records: deque[RequestRecord] = deque()
        self._with_body: deque[RequestRecord] = deque()
        self._body_total = 0
        self.dropped = 0
        """Requests that left the log because it was full."""
        self.bodies_dropped = 0
        """Bodies let go (oldest first) to stay within the byte budget."""

    def __len__(self) -> int:
        return len(self._records)

    def append(
        self, method: str, path: str, *, query: str, status: int, time: float, operations: int, raw: bytes
    ) -> None:
        if len(self._records) >= self.size:
            self._evict_oldest()
        size = len(raw)
        keep = 0 < size <= self.body_bytes
        record = RequestRecord(
            method=method,
            path=path,
            status=status,
            time=time,
            operations=operations,
            query=scrubbed_query(query),
            body=parsed_body(raw) if keep else None,
            body_size=size,
            body_kept=keep or size == 0,
        )
        self._records.append(record)
        if keep:
            self._with_body.append(record)
            self._body_total += size
            while self._body_total > self.body_bytes:
                self._drop_oldest_body()
        elif size:
            self.bodies_dropped += 1

    def clear(self) -> None:
        self._records.clear()
        self._with_body.clear()
        self._body_total = 0
        self.dropped = 0
        self.bodies_dropped = 0

    def records(self) -> list[RequestRecord]:
        return list(self._records)

    def _evict_oldest(self) -> None:
        oldest = self._records.popleft()
        self.dropped += 1
        if self._with_body and self._with_body[0] is oldest:
            self._with_body.popleft()
            self._body_total -= oldest.body_size

    def _drop_oldest_body(self) -> None:
        record = self._with_body.popleft()
        self._body_total -= record.body_size
        record.body = None
        record.body_kept = False
        self.bodies_dropped += 1
