"""Reporting webhooks as Customer.io sends them: signed, one at a time, held back behind a failure.

Each webhook has its own queue and sender thread. A call is signed at each attempt (`X-CIO-Timestamp`,
`X-CIO-Signature` = hex HMAC-SHA256 of `v0:<timestamp>:<body>` under the workspace's signing key) and
times out after 4 s. A failed call blocks every later one to that webhook until it succeeds: after a
timeout or a refused connection it is retried with a doubling backoff; after a 4xx/5xx answer Customer.io
waits an hour. A call still failing 7 days after its first attempt is dropped (counted).

`time_scale` shrinks those waits (not the 4 s timeout) so tests live through an hour in milliseconds; the
waits are recorded in unscaled seconds, so a test asserts on them without depending on machine speed.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import itertools
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

TIMEOUT_S = 4.0
FIRST_BACKOFF_S = 10.0
MAX_BACKOFF_S = 3600.0
REFUSED_WAIT_S = 3600.0  # after a 4xx/5xx answer
GIVE_UP_AFTER_S = 7 * 24 * 3600.0
ATTEMPTS_KEPT = 1000


def signature(key: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(key, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()


@dataclass
class ReportingWebhook:
    """One webhook as the App API lists it, plus its delivery queue and record."""

    id: int
    name: str
    endpoint: str
    events: list[str]
    disabled: bool = False
    full_resolution: bool = True
    with_content: bool = False
    # Each: the body, when it was first tried, how many times it failed.
    pending: deque[tuple[bytes, float | None, int]] = field(default_factory=deque)
    attempts: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=ATTEMPTS_KEPT))
    delivered: int = 0
    expired: int = 0

    def to_json(self) -> dict[str, Any]:
        """The App API's fields (GET /v1/reporting_webhooks)."""
        return {
            "id": self.id,
            "name": self.name,
            "endpoint": self.endpoint,
            "events": list(self.events),
            "disabled": self.disabled,
            "full_resolution": self.full_resolution,
            "with_content": self.with_content,
        }

    def status_json(self) -> dict[str, Any]:
        return {
            **self.to_json(),
            "pending": len(self.pending),
            "delivered": self.delivered,
            "expired": self.expired,
            "attempts": list(self.attempts),
        }


class WebhookSender:
    """The workspace's reporting webhooks and their delivery (see the module docstring)."""

    def __init__(
        self,
        signing_key: str,
        *,
        time_scale: float = 1.0,
        timeout_s: float = TIMEOUT_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.signing_key = signing_key.encode()
        self.time_scale = time_scale
        self.timeout_s = timeout_s
        self._clock = clock
        self._lock = threading.Condition()
        self._hooks: dict[int, ReportingWebhook] = {}
        self._threads: list[threading.Thread] = []
        self._ids = itertools.count(1)
        self._stopped = False

    # ---- the App API's view ------------------------------------------------------------------------

    def create(self, fields: Mapping[str, Any]) -> ReportingWebhook:
        """A new webhook from the App API's body (`name`, `endpoint`, `events`; ValueError otherwise)."""
        name, endpoint, events = fields.get("name"), fields.get("endpoint"), fields.get("events")
        if not isinstance(name, str) or not name.strip():
            raise ValueError("name is required")
        if not isinstance(endpoint, str) or urlsplit(endpoint).scheme not in {"http", "https"}:
            raise ValueError("endpoint must be an http(s) URL")
        if not isinstance(events, list) or not all(isinstance(event, str) for event in events):
            raise ValueError("events must be a list of event names")
        with self._lock:
            hook = ReportingWebhook(
                next(self._ids),
                name,
                endpoint,
                list(events),
                disabled=fields.get("disabled") is True,
                full_resolution=fields.get("full_resolution") is not False,
                with_content=fields.get("with_content") is True,
            )
            self._hooks[hook.id] = hook
            if not self._stopped:
                thread = threading.Thread(
                    target=self._deliver, args=(hook,), name=f"cio-emulator-webhook-{hook.id}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            return hook

    def list_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [hook.to_json() for hook in self._hooks.values()]

    def status_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [hook.status_json() for hook in self._hooks.values()]

    # ---- sending -----------------------------------------------------------------------------------

    def publish(self, object_type: str, metric: str, data: Mapping[str, Any], timestamp: int) -> int:
        """Queue the event for every enabled webhook that sends it; returns how many will."""
        document = {
            "event_id": uuid.uuid4().hex.upper()[:26],
            "object_type": object_type,
            "metric": metric,
            "timestamp": timestamp,
            "data": dict(data),
        }
        body = json.dumps(document, separators=(",", ":")).encode()
        count = 0
        with self._lock:
            for hook in self._hooks.values():
                if not hook.disabled and f"{object_type}_{metric}" in hook.events:
                    hook.pending.append((body, None, 0))
                    count += 1
            self._lock.notify_all()
        return count

    def pending(self) -> int:
        with self._lock:
            return sum(len(hook.pending) for hook in self._hooks.values())

    def wait_sent(self, timeout: float) -> bool:
        """Until nothing is pending (True), or `timeout` seconds have passed (False)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while any(hook.pending for hook in self._hooks.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.05))
            return True

    def clear_pending(self) -> None:
        """Drop what every webhook still had to send (the emulator's reset); the webhooks stay."""
        with self._lock:
            for hook in self._hooks.values():
                while len(hook.pending) > 1:
                    hook.pending.pop()
                if hook.pending:  # its sender may be trying it now: expire it at once
                    body, _, failures = hook.pending[0]
                    hook.pending[0] = (body, float("-inf"), failures)
            self._lock.notify_all()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._lock.notify_all()
        for thread in self._threads:
            thread.join(timeout=self.timeout_s + 1)
        self._threads = []

    def _running(self, hook: ReportingWebhook) -> bool:
        return not self._stopped and self._hooks.get(hook.id) is hook

    def _deliver(self, hook: ReportingWebhook) -> None:
        connection: http.client.HTTPConnection | None = None
        while True:
            with self._lock:
                while self._running(hook) and not hook.pending:
                    self._lock.wait()
                if not self._running(hook):
                    break
                body, first, _ = hook.pending[0]
            now = self._clock()
            status, connection = self._post(hook.endpoint, body, now, connection)
            wait = self._outcome(hook, body, first if first is not None else now, now, status)
            if wait:
                with self._lock:
                    self._lock.wait_for(lambda: not self._running(hook), wait * self.time_scale)
        if connection is not None:
            connection.close()

    def _outcome(self, hook: ReportingWebhook, body: bytes, first: float, now: float, status: int) -> float:
        """Record the attempt; returns the wait (unscaled seconds) before the next, 0 to go straight on."""
        with self._lock:
            _, _, failures = hook.pending[0]
            event_id = json.loads(body)["event_id"]
            attempt: dict[str, Any] = {"event_id": event_id, "status": status, "wait_s": 0.0}
            hook.attempts.append(attempt)
            ok = 200 <= status < 300
            if ok or now - first >= GIVE_UP_AFTER_S * self.time_scale:
                hook.pending.popleft()
                hook.delivered += ok
                hook.expired += not ok
                self._lock.notify_all()
                return 0.0
            hook.pending[0] = (body, first, failures + 1)
            wait = REFUSED_WAIT_S if status >= 400 else min(FIRST_BACKOFF_S * 2**failures, MAX_BACKOFF_S)
            attempt["wait_s"] = wait
            return wait

    def _post(
        self, endpoint: str, body: bytes, now: float, connection: http.client.HTTPConnection | None
    ) -> tuple[int, http.client.HTTPConnection | None]:
        """The answer's status; 0 for a timeout or a failed connection (which is then dropped)."""
        parts = urlsplit(endpoint)
        timestamp = str(int(now))
        headers = {
            "Content-Type": "application/json",
            "X-CIO-Timestamp": timestamp,
            "X-CIO-Signature": signature(self.signing_key, timestamp, body),
        }
        try:
            if connection is None:
                kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
                connection = kind(parts.hostname or "", parts.port, timeout=self.timeout_s)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request("POST", target, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.will_close:
                connection.close()
                connection = None
            return response.status, connection
        except (OSError, http.client.HTTPException):
            if connection is not None:
                connection.close()
            return 0, None
