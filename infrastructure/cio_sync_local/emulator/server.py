"""What the emulator answers: Track v1/v2 and the App API on one base URL, plus `/_emulator` control.

`EmulatorApp` decides every answer from plain values (method, path, headers, body bytes, which region's
hosts were called), so the behaviour reads top to bottom in one place; `serving.Emulator` puts it on
sockets, and the Track and App APIs' own rules live in `track_api` and `app_api`.

Regions: the emulator listens twice. `Emulator.url` stands for the US hosts (track.customer.io and
api.customer.io), `Emulator.eu_url` for the EU ones (track-eu / api-eu). The workspace lives in one region
(`region`, "us" by default); a request sent to the other region's stand-in gets what the real service
gives a client using the wrong region's host (see `EmulatorApp._wrong_region`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cio_sync_local.emulator import consent, page
from cio_sync_local.emulator.app_api import (
    APP_RATE_LIMIT_PER_S,
    DEFAULT_TRANSACTIONAL_MESSAGES,
    SEND_RATE_LIMIT_PER_S,
    AppApi,
    TransactionalMessage,
)
from cio_sync_local.emulator.faults import FaultConfig, TrafficControl, Verdict
from cio_sync_local.emulator.openapi import TrackSchemas
from cio_sync_local.emulator.replies import (
    RATE_LIMITED,
    UNAUTHORIZED,
    Reply,
    meta_error,
    parse_json,
)
from cio_sync_local.emulator.requestlog import REQUEST_LOG_BODY_BYTES, REQUEST_LOG_SIZE
from cio_sync_local.emulator.state import EmailIdentifier, EmulatorState
from cio_sync_local.emulator.track_api import TrackApi, track_route
from cio_sync_local.emulator.webhooks import WebhookSender

CONTROL_PREFIX = "/_emulator"
REGION_PATH = "/api/v1/accounts/region"
REGIONS = ("us", "eu")
TRACK_HOSTS = {"us": "https://track.customer.io", "eu": "https://track-eu.customer.io"}
APP_HOSTS = {"us": "https://api.customer.io", "eu": "https://api-eu.customer.io"}
WRONG_DATACENTER = {"errors": [{"detail": "wrong datacenter", "status": "301"}]}
"""The body Customer.io sent with its cross-region 301 (customerio/customerio-node issue #134)."""
DEFAULT_ENVIRONMENT_ID = 1


@dataclass(frozen=True)
class Call:
    """One API request as the emulator sees it (headers reduced to the one that matters)."""

    method: str
    path: str
    query: str
    authorization: str
    body: bytes
    host_region: str


class EmulatorApp:
    """Everything the emulator decides, independent of sockets."""

    def __init__(
        self,
        *,
        site_id: str,
        track_api_key: str,
        app_api_key: str,
        schemas: TrackSchemas | None,
        faults: FaultConfig,
        region: str = "us",
        email_identifier: EmailIdentifier = "off",
        environment_id: int = DEFAULT_ENVIRONMENT_ID,
        transactional_messages: Sequence[TransactionalMessage] = DEFAULT_TRANSACTIONAL_MESSAGES,
        app_rate_limit_per_s: int | None = APP_RATE_LIMIT_PER_S,
        send_rate_limit_per_s: int | None = SEND_RATE_LIMIT_PER_S,
        request_log_size: int = REQUEST_LOG_SIZE,
        request_log_body_bytes: int = REQUEST_LOG_BODY_BYTES,
        clock: Callable[[], float] = time.monotonic,
        webhooks: WebhookSender | None = None,
    ) -> None:
        if region not in REGIONS:
            raise ValueError(f"region must be one of {', '.join(REGIONS)}")
        self._track_credentials = f"{site_id}:{track_api_key}".encode()
        self._bearer = f"Bearer {app_api_key}"
        self._initial_faults = faults
        self.region = region
        self.environment_id = environment_id
        self.base_urls: dict[str, str] = {}
        """The emulator's own URL for each region's hosts, set once its sockets are bound."""
        self.state = EmulatorState(
            email_identifier=email_identifier,
            request_log_size=request_log_size,
            request_log_body_bytes=request_log_body_bytes,
        )
        self.track_api = TrackApi(self.state, schemas)
        self.traffic = TrafficControl(faults, clock=clock)
        self.webhooks = webhooks if webhooks is not None else WebhookSender("")
        self.app_api = AppApi(
            self.state,
            transactional_messages,
            webhooks=self.webhooks,
            rate_limit_per_s=app_rate_limit_per_s,
            send_rate_limit_per_s=send_rate_limit_per_s,
            clock=clock,
        )
        # Cleared: API requests wait here before they are answered (a service that does not answer).
        self.answering = threading.Event()
        self.answering.set()

    # ---- entry point -------------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes, host_region: str = "us"
    ) -> Reply:
        """Answer one request; `headers` keys are lower-case; `host_region` is the region's hosts called."""
        split = urlsplit(target)
        path = split.path
        if path == "/" or path.startswith(CONTROL_PREFIX + "/") or path == CONTROL_PREFIX:
            return self._control(method, path, parse_qs(split.query), body)
        self.answering.wait()
        verdict, config = self.traffic.admit()
        if config.latency_ms:
            time.sleep(config.latency_ms / 1000)
        faulted = _fault_reply(verdict, config)
        call = Call(method, path, split.query, headers.get("authorization", ""), body, host_region)
        reply, operations = (faulted, 0) if faulted is not None else self._api(call)
        self.state.record_request(
            method, path, 0 if reply.drop else reply.status, operations, query=split.query, body=body
        )
        return reply

    # ---- Customer.io API ---------------------------------------------------------------------------

    def _api(self, call: Call) -> tuple[Reply, int]:
        """Route, authenticate, check the region, then answer; returns the reply and its operation count."""
        if self.app_api.method_for(call.path) is not None:
            return self._app_call(call)
        if call.path == REGION_PATH:
            return self._region_call(call), 0
        return self._track_call(call)

    def _app_call(self, call: Call) -> tuple[Reply, int]:
        problem = None
        if call.method not in self.app_api.methods_for(call.path):
            problem = meta_error(405, "method not allowed")
        elif not hmac.compare_digest(call.authorization.encode(), self._bearer.encode()):
            problem = UNAUTHORIZED
        else:
            problem = self._wrong_region(call)
        if problem is not None:
            return problem, 0
        if not self.app_api.admit(call.path):
            return RATE_LIMITED, 0
        return self.app_api.handle(call.path, parse_qs(call.query), call.body, call.method)

    def _region_call(self, call: Call) -> Reply:
        """GET /api/v1/accounts/region: the same answer on either region's hosts, as documented."""
        if call.method != "GET":
            return meta_error(405, "method not allowed")
        if not self._track_authorized(call.authorization):
            return UNAUTHORIZED
        return self._region_reply()

    def _track_call(self, call: Call) -> tuple[Reply, int]:
        route = track_route(call.method, call.path)
        if route is None:
            return meta_error(404, "not found"), 0
        if not self._track_authorized(call.authorization):
            return UNAUTHORIZED, 0
        wrong_region = self._wrong_region(call)
        if wrong_region is not None:
            return wrong_region, 0
        operation, person_id = route
        return self.track_api.handle(operation, person_id, call.body)

    def _region_reply(self) -> Reply:
        return Reply(
            200,
            {"url": TRACK_HOSTS[self.region], "region": self.region, "environment_id": self.environment_id},
        )

    def _wrong_region(self, call: Call) -> Reply | None:
        """What a workspace in `self.region` answers on the other region's hosts, or None on its own.

        An EU workspace called on the US hosts redirects: 301 with a Location on the EU hosts (here, the
        emulator's EU stand-in) and the body Customer.io was seen to send. A US workspace called on the
        EU hosts is refused with 401: its credentials do not exist there.
        """
        if call.host_region == self.region:
            return None
        if self.region == "us":
            return UNAUTHORIZED
        hosts = APP_HOSTS if call.path.startswith("/v1/") else TRACK_HOSTS
        base = self.base_urls.get("eu", hosts["eu"])
        location = base + call.path + (f"?{call.query}" if call.query else "")
        return Reply(301, WRONG_DATACENTER, headers={"Location": location})

    def _track_authorized(self, authorization: str) -> bool:
        if not authorization.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(decoded, self._track_credentials)

    # ---- inspection and control --------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return {
            **self.state.counters_json(),
            **self.traffic.stats(),
            **self.app_api.stats(),
            "webhooks_pending": self.webhooks.pending(),
        }

    def reset(self) -> None:
        """Forget everything but the workspace's settings (transactional messages, reporting webhooks: their
        pending calls are dropped) and return to the faults the emulator was started with."""
        self.state.reset()
        self.webhooks.clear_pending()
        self.traffic.reset(self._initial_faults)
        self.app_api.reset()

    def set_faults(self, changes: Mapping[str, Any]) -> FaultConfig:
        config = self.traffic.config.updated(changes)
        self.traffic.configure(config)
        return config

    def config_json(self) -> dict[str, Any]:
        log = self.state.request_log
        return {
            "region": self.region,
            "email_identifier": self.state.email_identifier,
            "environment_id": self.environment_id,
            "urls": dict(self.base_urls),
            "request_log": {"size": log.size, "body_bytes": log.body_bytes},
            "app_rate_limit_per_s": self.app_api.read_limiter.limit,
            "send_rate_limit_per_s": self.app_api.send_limiter.limit,
        }

    def _control(self, method: str, path: str, query: dict[str, list[str]], raw: bytes) -> Reply:
        route = path[len(CONTROL_PREFIX) :].rstrip("/") if path != "/" else "/"
        if method == "GET":
            return self._inspect(route, query)
        if method == "POST" and route == "/reset":
            self.reset()
            return Reply(200, {"reset": True})
        if method == "POST" and route == "/faults":
            return self._post_faults(raw)
        acted = consent.control(self.state, self.webhooks, route, query, raw) if method == "POST" else None
        return acted or meta_error(404, "no such emulator endpoint")

    def _post_faults(self, raw: bytes) -> Reply:
        changes, problems = parse_json(raw, empty_as={})
        if problems or not isinstance(changes, dict):
            return meta_error(400, "faults must be a JSON object")
        try:
            return Reply(200, self.set_faults(changes).to_json())
        except (ValueError, TypeError) as error:
            return meta_error(400, str(error))

    def _inspect(self, route: str, query: dict[str, list[str]]) -> Reply:
        if route.startswith("/profiles/"):
            with self.state.lock:
                profile = self.state.profile(unquote(route[len("/profiles/") :]))
                return Reply(200, profile.to_json()) if profile else meta_error(404, "no such profile")
        person_id = query.get("person_id", [None])[0]
        views: dict[str, Callable[[], Any]] = {
            "/": self._page,
            "/profiles": self.state.profiles_json,
            "/events": lambda: self._events(person_id),
            "/emails": self.state.emails_json,
            "/requests": self.state.requests_json,
            "/activity": lambda: self.state.activity_json(person_id),
            "/history": self.state.history_json,
            "/overview": lambda: self._overview(query),
            "/transactional": self._transactional_json,
            "/stats": self.stats,
            "/faults": self._faults_json,
            "/config": self.config_json,
            "/webhooks": self.webhooks.status_json,
        }
        view = views.get(route)
        if view is None:
            return meta_error(404, "no such emulator endpoint")
        result = view()
        return result if isinstance(result, Reply) else Reply(200, result)

    def _faults_json(self) -> dict[str, Any]:
        return self.traffic.config.to_json()

    def _transactional_json(self) -> list[dict[str, Any]]:
        return [
            {**message.to_json(), "trigger_name": message.trigger_name}
            for message in self.app_api.messages.values()
        ]

    def _page(self) -> Reply:
        return Reply(200, page.page_html(), content_type="text/html; charset=utf-8")

    def _overview(self, query: dict[str, list[str]]) -> Reply | dict[str, Any]:
        """The page's data: `?person=` (part of an id), `?type=` (a timeline entry type), `?limit=`."""
        limit = query.get("limit", [str(page.LIMIT)])[0]
        if not limit.isdigit():
            return meta_error(400, "limit must be a whole number")
        with self.state.lock:
            people = [profile.to_json() for profile in self.state.profiles.values()]
            history = self.state.history_json()
        return page.overview(
            people,
            history,
            self.stats(),
            person=query.get("person", [""])[0],
            kind=query.get("type", [""])[0],
            limit=int(limit),
        )

    def _events(self, person_id: str | None) -> list[dict[str, Any]]:
        events = self.state.events_json()
        return events if person_id is None else [e for e in events if e["person_id"] == person_id]


def _fault_reply(verdict: Verdict, config: FaultConfig) -> Reply | None:
    """The injected answer for a faulted request, or None to serve it normally."""
    replies = {
        Verdict.RATE_LIMITED: RATE_LIMITED,
        Verdict.DROP: Reply(0, drop=True),
        Verdict.FAIL: meta_error(config.fail_status, "injected failure"),
    }
    return replies.get(verdict)
