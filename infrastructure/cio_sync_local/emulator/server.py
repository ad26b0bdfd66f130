"""The emulator's HTTP server: Track v1/v2 and the App API on one base URL, plus `/_emulator` control.

Stdlib `ThreadingHTTPServer` speaking HTTP/1.1 keep-alive is enough for several hundred requests a second
and keeps the emulator free of extra dependencies. Request handling is split in two: `EmulatorApp`
decides answers from plain values (method, path, headers, body bytes, which region's hosts were
called), and the handler class only moves bytes, so the behaviour reads top to bottom in one place.

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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
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
from cio_sync_local.emulator.webhooks import TIMEOUT_S, WebhookSender

CONTROL_PREFIX = "/_emulator"
REGION_PATH = "/api/v1/accounts/region"
REGIONS = ("us", "eu")
TRACK_HOSTS = {"us": "https://track.customer.io", "eu": "https://track-eu.customer.io"}
APP_HOSTS = {"us": "https://api.customer.io", "eu": "https://api-eu.customer.io"}
WRONG_DATACENTER = {"errors": [{"detail": "wrong datacenter", "status": "301"}]}
"""The body Customer.io sent with its cross-region 301 (customerio/customerio-node issue #134)."""
DEFAULT_ENVIRONMENT_ID = 1
IDLE_CONNECTION_TIMEOUT_S = 120
"""Idle keep-alive connections are closed after this, so a long local run does not collect threads."""


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


class _Handler(BaseHTTPRequestHandler):
    """Moves bytes between the socket and `EmulatorApp`; keep-alive HTTP/1.1 with exact Content-Length."""

    protocol_version = "HTTP/1.1"
    server_version = "cio-emulator"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = IDLE_CONNECTION_TIMEOUT_S
    server: _Server

    def _dispatch(self) -> None:
        body = self._read_body()
        if body is None:
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.app.handle(self.command, self.path, headers, body, self.server.host_region)
        if reply.drop:
            self.close_connection = True
            return
        payload = reply.encoded()
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    def _read_body(self) -> bytes | None:
        """The body by Content-Length; the clients here (urllib3, requests) never send it chunked."""
        length_header = self.headers.get("Content-Length")
        if not length_header:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            self.send_error(400, "bad Content-Length")
            return None
        return self.rfile.read(length)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: `/_emulator/requests` is the request log, and stderr noise slows the server down."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: EmulatorApp, host_region: str) -> None:
        self.app = app
        self.host_region = host_region
        super().__init__(address, _Handler)


class Emulator:
    """A local Customer.io: Track paths, the App API, `/_emulator/...` and `/` on one base URL per region.

    `Emulator(...).start()` serves from background threads until `stop()`; it is also a context manager.
    `url` stands for the US hosts and `eu_url` for the EU hosts; the workspace is in `region`, and
    `home_url` is the URL of its own region. Missing OpenAPI document: construction fails unless
    `validate=False` is passed on purpose.
    """

    def __init__(
        self,
        site_id: str = "site",
        track_api_key: str = "track-key",
        app_api_key: str = "app-key",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        eu_port: int = 0,
        openapi_path: str | Path | None = None,
        validate: bool = True,
        faults: FaultConfig | None = None,
        region: str = "us",
        email_identifier: EmailIdentifier = "off",
        environment_id: int = DEFAULT_ENVIRONMENT_ID,
        transactional_messages: Sequence[TransactionalMessage] = DEFAULT_TRANSACTIONAL_MESSAGES,
        app_rate_limit_per_s: int | None = APP_RATE_LIMIT_PER_S,
        send_rate_limit_per_s: int | None = SEND_RATE_LIMIT_PER_S,
        request_log_size: int = REQUEST_LOG_SIZE,
        request_log_body_bytes: int = REQUEST_LOG_BODY_BYTES,
        clock: Callable[[], float] = time.monotonic,
        webhook_signing_key: str = "emulator-webhook-signing-key",
        webhook_time_scale: float = 1.0,
        webhook_timeout_s: float = TIMEOUT_S,
    ) -> None:
        """`clock` times the one-second windows of the rate limits (tests pass a fake one). Reporting
        webhooks are signed with `webhook_signing_key`; `webhook_time_scale` shrinks their retry waits."""
        schemas = TrackSchemas.load(Path(openapi_path) if openapi_path else None) if validate else None
        self.site_id = site_id
        self.track_api_key = track_api_key
        self.app_api_key = app_api_key
        self.region = region
        self._host = host
        self._ports = {"us": port, "eu": eu_port}
        self.app = EmulatorApp(
            site_id=site_id,
            track_api_key=track_api_key,
            app_api_key=app_api_key,
            schemas=schemas,
            faults=faults or FaultConfig(),
            region=region,
            email_identifier=email_identifier,
            environment_id=environment_id,
            transactional_messages=transactional_messages,
            app_rate_limit_per_s=app_rate_limit_per_s,
            send_rate_limit_per_s=send_rate_limit_per_s,
            request_log_size=request_log_size,
            request_log_body_bytes=request_log_body_bytes,
            clock=clock,
            webhooks=WebhookSender(
                webhook_signing_key, time_scale=webhook_time_scale, timeout_s=webhook_timeout_s
            ),
        )
        self._servers: dict[str, _Server] = {}
        self._threads: list[threading.Thread] = []

    @property
    def state(self) -> EmulatorState:
        return self.app.state

    @property
    def webhooks(self) -> WebhookSender:
        return self.app.webhooks

    def _server(self, region: str) -> _Server:
        server = self._servers.get(region)
        if server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return server

    @property
    def port(self) -> int:
        """The port of the US hosts' stand-in (the emulator's main URL)."""
        return int(self._server("us").server_address[1])

    @property
    def eu_port(self) -> int:
        return int(self._server("eu").server_address[1])

    def url_for(self, region: str) -> str:
        """The base URL standing for `region`'s Track and App hosts."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{int(self._server(region).server_address[1])}"

    @property
    def url(self) -> str:
        return self.url_for("us")

    @property
    def eu_url(self) -> str:
        return self.url_for("eu")

    @property
    def home_url(self) -> str:
        """The URL of the workspace's own region: where a correctly configured client sends its requests."""
        return self.url_for(self.region)

    def start(self) -> Emulator:
        if self._servers:
            return self
        try:
            for region in ("us", "eu"):
                self._servers[region] = _Server((self._host, self._ports[region]), self.app, region)
        except BaseException:
            self._close_servers()
            raise
        self.app.base_urls = {region: self.url_for(region) for region in self._servers}
        for region, server in self._servers.items():
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"cio-emulator-{region}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self.app.webhooks.stop()
        if not self._servers:
            return
        for server in self._servers.values():
            server.shutdown()
        self._close_servers()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def _close_servers(self) -> None:
        for server in self._servers.values():
            server.server_close()
        self._servers = {}

    def reset(self) -> None:
        self.app.reset()

    @contextmanager
    def holding(self) -> Iterator[None]:
        """While held, API requests are received but not answered, as from a service that hangs."""
        self.app.answering.clear()
        try:
            yield
        finally:
            self.app.answering.set()

    def set_faults(self, **changes: Any) -> FaultConfig:
        """Same as `POST /_emulator/faults`: e.g. `set_faults(rate_limit_per_s=5, fail_ratio=0.5)`."""
        return self.app.set_faults(changes)

    def stats(self) -> dict[str, Any]:
        return self.app.stats()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
