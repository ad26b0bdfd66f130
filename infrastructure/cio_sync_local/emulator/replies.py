"""What the emulator answers with: a status, a JSON (or text) body, optional headers, and the error shapes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cio_sync_local.emulator.limits import Violation


@dataclass(frozen=True)
class Reply:
    """An answer to send; `drop` means close the connection without answering (an injected fault)."""

    status: int
    body: Any = None
    content_type: str = "application/json"
    drop: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


def v1_error(status: int, problems: list[Violation]) -> Reply:
    """Track v1 errors: `{"meta": {"errors": ["..."]}}`, as the OpenAPI document's 400 response says."""
    return Reply(status, {"meta": {"errors": [f"{p.field}: {p.message}" for p in problems]}})


def v2_error(status: int, problems: list[Violation]) -> Reply:
    """Track v2 whole-request errors: `{"errors": [{"reason", "field", "message"}]}`."""
    return Reply(
        status, {"errors": [{"reason": p.reason, "field": p.field, "message": p.message} for p in problems]}
    )


def meta_error(status: int, message: str) -> Reply:
    """App API (and auth) errors: `{"meta": {"error": "..."}}`."""
    return Reply(status, {"meta": {"error": message}})


RATE_LIMITED = meta_error(429, "rate limit exceeded")
UNAUTHORIZED = meta_error(401, "Unauthorized request")


def parse_json(body: bytes, *, empty_as: Any = None) -> tuple[Any, list[Violation]]:
    if not body.strip():
        if empty_as is not None:
            return empty_as, []
        return None, [Violation("invalid", "body", "request body is empty")]
    try:
        return json.loads(body), []
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, [Violation("invalid", "body", "request body is not valid JSON")]
