"""The local stack's control endpoint: lets `cio-sync local drain` in another process ask the one that runs
the stack whether its pipeline is idle (`POST /drain?timeout=`), and `GET /status` its pump's counters."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from cio_sync_local.pump import IdleReport, Pump


class Drainable(Protocol):
    """What the endpoint asks of the stack (`LocalStack`)."""

    pump: Pump | None

    def idle_report(self, timeout: float) -> IdleReport: ...


class _ControlHandler(BaseHTTPRequestHandler):
    server: _ControlHttpServer

    def do_GET(self) -> None:
        stack = self.server.stack
        if urlsplit(self.path).path == "/status":
            pump = stack.pump
            self._reply(HTTPStatus.OK, {"running": pump is not None, "pump": pump.stats() if pump else {}})
        else:
            self._reply(HTTPStatus.NOT_FOUND, {"error": "no such endpoint"})

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != "/drain":
            self._reply(HTTPStatus.NOT_FOUND, {"error": "no such endpoint"})
            return
        try:
            timeout = float(parse_qs(parts.query).get("timeout", ["30"])[0])
        except ValueError:
            self._reply(HTTPStatus.BAD_REQUEST, {"error": "timeout must be a number of seconds"})
            return
        started = time.monotonic()
        try:
            report = self.server.stack.idle_report(timeout)
        except RuntimeError as error:
            self._reply(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(error)})
            return
        self._reply(
            HTTPStatus.OK,
            {
                "idle": report.idle,
                "reasons": list(report.reasons),
                "seconds": round(time.monotonic() - started, 3),
            },
        )

    def _reply(self, status: HTTPStatus, body: Mapping[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the control endpoint is for `cio-sync local drain`, not for the screen."""


class _ControlHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], stack: Drainable) -> None:
        self.stack = stack
        super().__init__(address, _ControlHandler)


class ControlServer:
    def __init__(self, stack: Drainable, host: str) -> None:
        self._server = _ControlHttpServer((host, 0), stack)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="local-stack-control", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ControlServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
