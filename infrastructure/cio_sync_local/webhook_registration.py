"""The local stack's reporting webhook, set up in the emulator as an operator sets it up in Customer.io.

Through the App API (`/v1/reporting_webhooks`), pointing at the receiver's function URL and sending every
event the consent function acts on, so `cio-sync doctor` finds it as it would on AWS.
"""

from __future__ import annotations

from typing import Any

import requests

from cio_sync.customerio.reporting import WEBHOOK_EVENTS

WEBHOOK_NAME = "cio-sync local consent"
TIMEOUT_S = 10.0


def _call(url: str, app_api_key: str, body: dict[str, Any] | None = None) -> Any:
    headers = {"Authorization": f"Bearer {app_api_key}"}
    if body is None:
        response = requests.get(url, headers=headers, timeout=TIMEOUT_S)
    else:
        response = requests.post(url, headers=headers, json=body, timeout=TIMEOUT_S)
    response.raise_for_status()
    return response.json()


def register_reporting_webhook(app_url: str, app_api_key: str, endpoint: str) -> dict[str, Any]:
    """The webhook pointing at `endpoint`: the one already there, or a new one."""
    hooks = _call(f"{app_url}/v1/reporting_webhooks", app_api_key).get("reporting_webhooks") or []
    for hook in hooks:
        if isinstance(hook, dict) and hook.get("endpoint") == endpoint:
            return hook
    created: dict[str, Any] = _call(
        f"{app_url}/v1/reporting_webhooks",
        app_api_key,
        {"name": WEBHOOK_NAME, "endpoint": endpoint, "events": list(WEBHOOK_EVENTS), "disabled": False},
    )
    return created
