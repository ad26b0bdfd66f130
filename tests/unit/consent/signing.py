"""Signed reporting-webhook calls, as Customer.io sends them (function URL events, payload format 2.0)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

KEY = b"test-signing-key"
NOW = 1_780_000_000
MEMBER = "5f3c2a1b0e9d8c7b6a594837"


def webhook_body(
    object_type: str = "customer",
    metric: str = "unsubscribed",
    *,
    event_id: str = "01HWEBHOOKEVENT000000000001",
    customer_id: str = MEMBER,
    timestamp: int = NOW - 10,
    **data: Any,
) -> bytes:
    document = {
        "event_id": event_id,
        "object_type": object_type,
        "metric": metric,
        "timestamp": timestamp,
        "data": {"customer_id": customer_id, "identifiers": {"id": customer_id}, **data},
    }
    return json.dumps(document).encode()


def sign(body: bytes, timestamp: int = NOW, key: bytes = KEY) -> str:
    return hmac.new(key, b"v0:%d:" % timestamp + body, hashlib.sha256).hexdigest()


def url_event(
    body: bytes,
    *,
    timestamp: int | None = NOW,
    signature: str | None = None,
    base64_body: bool = False,
    method: str = "POST",
) -> dict[str, Any]:
    headers = {"content-type": "application/json"}
    if timestamp is not None:
        headers["x-cio-timestamp"] = str(timestamp)
        headers["x-cio-signature"] = signature if signature is not None else sign(body, timestamp)
    return {
        "version": "2.0",
        "rawPath": "/",
        "headers": headers,
        "requestContext": {"http": {"method": method, "path": "/"}},
        "body": base64.b64encode(body).decode() if base64_body else body.decode(),
        "isBase64Encoded": base64_body,
    }
