"""Lambda function URLs, served locally: moto creates none, so the local stack serves each one itself.

`url_targets` reads the packaged template: each `AWS::Lambda::Url` (SAM's `FunctionUrlConfig`) and the
function it invokes, and the outputs that give its URL. `FunctionUrlServer` is an HTTP server on the
stack's host, port 0, that turns each request into a function URL event (payload format 2.0), invokes
the function as the pump invokes the others (its worker, its role, its timeout), and turns the answer back
into HTTP as Lambda does: a dict with `statusCode` as it says, anything else as a 200 JSON body, and a
failed or timed-out invocation as 502.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from cio_sync_local.invoker import Invoker

URL_TYPE = "AWS::Lambda::Url"
# Bodies of these types reach the function as text; anything else base64-encoded, as Lambda does.
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-www-form-urlencoded")
MAX_BODY_BYTES = 6 * 1024 * 1024  # Lambda's request payload limit
IDLE_CONNECTION_TIMEOUT_S = 60


class UrlTarget(NamedTuple):
    url_id: str  # the AWS::Lambda::Url's logical id
    function_id: str  # the function it invokes
    outputs: tuple[str, ...]  # outputs whose value is this URL (FunctionUrl)


def url_targets(template: Mapping[str, Any]) -> list[UrlTarget]:
    """Every function URL of the (transformed) template, with the outputs that read its FunctionUrl."""
    resources: Mapping[str, Any] = template.get("Resources") or {}
    outputs: Mapping[str, Any] = template.get("Outputs") or {}
    targets = []
    for url_id, resource in resources.items():
        if resource.get("Type") != URL_TYPE:
            continue
        function = (resource.get("Properties") or {}).get("TargetFunctionArn")
        function_id = _referenced(function)
        if function_id is None:
            raise ValueError(f"{url_id}: TargetFunctionArn must be a Ref or GetAtt of a function")
        reading = tuple(
            name
            for name, output in outputs.items()
            if isinstance(output.get("Value"), dict)
            and _referenced(output["Value"]) == url_id
            and "Fn::GetAtt" in output["Value"]
        )
        targets.append(UrlTarget(url_id, function_id, reading))
    return targets


def _referenced(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("Ref"), str):
        return str(value["Ref"])
    target = value.get("Fn::GetAtt")
    if isinstance(target, list) and target:
        return str(target[0])
    if isinstance(target, str):
        return target.split(".", 1)[0]
    return None


def url_event(
    method: str, target: str, headers: Mapping[str, str], body: bytes, source_ip: str
) -> dict[str, Any]:
    """A function URL request as Lambda hands it to the function (payload format 2.0)."""
    parts = urlsplit(target)
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    content_type = lowered.get("content-type", "")
    text = not body or content_type.startswith(TEXT_TYPES)
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path or "/",
        "rawQueryString": parts.query,
        "headers": lowered,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": lowered.get("host", ""),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": parts.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": not text,
    }
    if parts.query:
        parameters: dict[str, str] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
        event["queryStringParameters"] = parameters
    if body:
        event["body"] = body.decode("utf-8", errors="replace") if text else base64.b64encode(body).decode()
    return event


class HttpAnswer(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


def http_answer(response: Any, failed: bool) -> HttpAnswer:
    """The function's answer as Lambda's function URL returns it."""
    if failed:
        return HttpAnswer(502, {"Content-Type": "application/json"}, b'{"Message":"Internal Server Error"}')
    if not (isinstance(response, dict) and "statusCode" in response):
        return HttpAnswer(200, {"Content-Type": "application/json"}, json.dumps(response).encode())
    headers = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
    body = response.get("body") or ""
    raw = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode()
    return HttpAnswer(int(response["statusCode"]), headers, raw)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cio-sync-local-function-url"
    sys_version = ""
    timeout = IDLE_CONNECTION_TIMEOUT_S
    server: _Server

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(HttpAnswer(413, {"Content-Type": "application/json"}, b'{"Message":"too large"}'))
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        event = url_event(self.command, self.path, dict(self.headers.items()), body, self.client_address[0])
        with self.server.around():
            result = self.server.invoker.invoke(event)
        self.server.after_invoke()
        self._send(http_answer(result.response, result.error is not None))

    def _send(self, answer: HttpAnswer) -> None:
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        try:
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):  # the caller gave up waiting (its timeout)
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the function's own logs say what it did."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        invoker: Invoker,
        after_invoke: Callable[[], None],
        around: Callable[[], AbstractContextManager[None]],
    ) -> None:
        self.invoker = invoker
        self.after_invoke = after_invoke
        self.around = around
        super().__init__(address, _Handler)


class FunctionUrlServer:
    """One function URL on `host`, a free port; `url` once started."""

    def __init__(
        self,
        invoker: Invoker,
        host: str = "127.0.0.1",
        *,
        after_invoke: Callable[[], None] = lambda: None,
        around: Callable[[], AbstractContextManager[None]] = nullcontext,
    ) -> None:
        """after_invoke: called when an invocation ended (the local pump looks at once for what it sent).
        around: entered for each invocation (the pump's idle check counts it)."""
        self._server = _Server((host, 0), invoker, after_invoke, around)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="function-url", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host = f"[{host!s}]" if ":" in str(host) else str(host)
        return f"http://{host}:{port}/"

    def start(self) -> FunctionUrlServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
