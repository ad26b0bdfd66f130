"""`cio-sync doctor`'s reporting-webhook check: Customer.io sends the consent events to this stack.

Through the App API (`GET /v1/reporting_webhooks`): a webhook whose endpoint is the stack's
`ReportingWebhookUrl` exists, is enabled, and sends every event the consent function acts on. Without it
an unsubscribe made in Customer.io never reaches the member table, and the next sync undoes it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol

from cio_sync.adapters.customerio.preflight import NOT_JSON, Check
from cio_sync.customerio.errors import CredentialsError, CustomerIoError
from cio_sync.customerio.reporting import WEBHOOK_EVENTS
from cio_sync_cli.target import OpsTarget, read_stack_file

NAME = "reporting webhook"
OUTPUT = "ReportingWebhookUrl"
VARIABLE = "REPORTING_WEBHOOK_URL"  # the environment's (or a local stack file's) name for it


def webhook_url(
    target: OpsTarget, stack_name: str | None, environ: Mapping[str, str] = os.environ
) -> str | None:
    """The stack's ReportingWebhookUrl: its output, the local stack's file, or the environment."""
    if target.source == "cloudformation" and stack_name:
        stacks: Any = target.client("cloudformation").describe_stacks(StackName=stack_name)
        outputs = stacks["Stacks"][0].get("Outputs") or []
        return next((o["OutputValue"] for o in outputs if o.get("OutputKey") == OUTPUT), None)
    if target.source == "local":
        url = (read_stack_file() or {}).get("reporting_webhook_url")
        if isinstance(url, str) and url:
            return url
    return environ.get(VARIABLE) or None


class JsonReader(Protocol):
    def get_json(self, path: str, *, operation: str, deadline: float | None = None) -> Any: ...


def check_reporting_webhook(client: JsonReader, url: str | None, deadline: float | None = None) -> Check:
    if not url:
        return Check(NAME, None, f"the stack's {OUTPUT} is not known here (set {VARIABLE} to check it)")
    try:
        answer = client.get_json(
            "/v1/reporting_webhooks", operation="list_reporting_webhooks", deadline=deadline
        )
    except (CustomerIoError, CredentialsError) as error:
        return Check(NAME, False, " ".join(str(error).split())[:300])
    except ValueError:
        return Check(NAME, False, NOT_JSON)
    hooks = answer.get("reporting_webhooks") if isinstance(answer, dict) else None
    if not isinstance(hooks, list):
        return Check(NAME, False, "Customer.io's answer lists no reporting_webhooks")
    return judge(hooks, url)


def judge(hooks: list[Any], url: str) -> Check:
    """The best of the webhooks pointing at `url`: enabled, and sending every event consent needs."""
    pointing = [hook for hook in hooks if isinstance(hook, dict) and _same_url(hook.get("endpoint"), url)]
    if not pointing:
        return Check(NAME, False, f"none points at {url}: add one (docs/operations.md, 'Reporting webhook')")
    enabled = [hook for hook in pointing if not hook.get("disabled")]
    if not enabled:
        return Check(NAME, False, f"the webhook pointing at {url} is disabled: enable it in Customer.io")
    missing = min((_missing(hook) for hook in enabled), key=len)
    if missing:
        return Check(NAME, False, f"the webhook pointing at {url} does not send {', '.join(missing)}")
    return Check(NAME, True, f"enabled at {url}, sending the {len(WEBHOOK_EVENTS)} events consent needs")


def _missing(hook: Mapping[str, Any]) -> list[str]:
    events = hook.get("events")
    sent = {event for event in events if isinstance(event, str)} if isinstance(events, list) else set()
    return [event for event in WEBHOOK_EVENTS if event not in sent]


def _same_url(endpoint: object, url: str) -> bool:
    return (
        isinstance(endpoint, str) and endpoint.strip().rstrip("/").lower() == url.strip().rstrip("/").lower()
    )
