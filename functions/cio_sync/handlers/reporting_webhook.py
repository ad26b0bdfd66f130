"""Lambda entry point for Customer.io's reporting webhook (a function URL, payload format 2.0).

A plain handler of a function URL event, so any server (the local stack's) can call it. The answer's
reason becomes a metric: WebhookQueued, WebhookIgnored, WebhookRefused<Reason>.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cio_sync.customerio.reporting import MAX_BODY_BYTES
from cio_sync.handlers.reporting_webhook_runtime import (
    ReportingWebhookRuntime,
    ReportingWebhookSettings,
    build,
)
from cio_sync.observability import logger, metrics
from cio_sync.pipeline.webhook_receiver import Reply, receive

# A base64 body this long decodes to more than the limit: refused without decoding it.
_MAX_ENCODED = (MAX_BODY_BYTES + 2) // 3 * 4


@cache
def runtime() -> ReportingWebhookRuntime:
    """Built once per execution environment, at its first invocation (`runtime.cache_clear()` rebuilds)."""
    return build(ReportingWebhookSettings.from_env())


def request_body(event: dict[str, Any]) -> bytes | None:
    """The raw body the signature covers; None when a base64 body does not decode."""
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return body.encode()
    if len(body) > _MAX_ENCODED:
        return b"\0" * (MAX_BODY_BYTES + 1)  # refused as oversized, never decoded
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None


def handle(event: dict[str, Any], deps: ReportingWebhookRuntime, now: float | None = None) -> dict[str, Any]:
    method = (event.get("requestContext") or {}).get("http", {}).get("method", "POST")
    if method != "POST":
        reply = Reply(405, "method")
    else:
        headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
        reply = receive(
            request_body(event),
            headers,
            signing_key=deps.signing_key,
            queue=deps.queue,
            now=time.time() if now is None else now,
        )
    metrics.add_metric(metric_name(reply), MetricUnit.Count, 1)
    if reply.status >= 400:
        logger.info("reporting webhook refused", extra={"reason": reply.reason, "status": reply.status})
    return {
        "statusCode": reply.status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"result": reply.reason}),
    }


def metric_name(reply: Reply) -> str:
    camel = "".join(part.capitalize() for part in reply.reason.split("_"))
    return f"Webhook{camel}" if reply.status < 400 else f"WebhookRefused{camel}"


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, runtime())
