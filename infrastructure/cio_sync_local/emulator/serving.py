"""The emulator on sockets: `Emulator` binds one server per region's hosts and serves `EmulatorApp`.

Stdlib `ThreadingHTTPServer` speaking HTTP/1.1 keep-alive is enough for several hundred requests a second
and keeps the emulator free of extra dependencies; the handler class only moves bytes, every answer is
decided by `server.EmulatorApp` from plain values.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from cio_sync_local.emulator.app_api import (
    APP_RATE_LIMIT_PER_S,
    DEFAULT_TRANSACTIONAL_MESSAGES,
    SEND_RATE_LIMIT_PER_S,
    TransactionalMessage,
)
from cio_sync_local.emulator.faults import FaultConfig
from cio_sync_local.emulator.openapi import TrackSchemas
from cio_sync_local.emulator.requestlog import REQUEST_LOG_BODY_BYTES, REQUEST_LOG_SIZE
from cio_sync_local.emulator.server import DEFAULT_ENVIRONMENT_ID, EmulatorApp
from cio_sync_local.emulator.state import EmailIdentifier, EmulatorState
from cio_sync_local.emulator.webhooks import TIMEOUT_S, WebhookSender

IDLE_CONNECTION_TIMEOUT_S = 120
"""Idle keep-alive connections are closed after this, so a long local run does not collect threads."""


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
