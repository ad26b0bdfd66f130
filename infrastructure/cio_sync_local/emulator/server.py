"""The emulator's HTTP server: Track v1/v2 and App send-email on one base URL, plus `/_emulator` control.

Stdlib `ThreadingHTTPServer` speaking HTTP/1.1 keep-alive is enough for several hundred requests a second
and keeps the emulator free of extra dependencies. Request handling is split in two: `EmulatorApp`
decides answers from plain values (method, path, headers, body bytes), and the handler class only moves
bytes, so the behaviour reads top to bottom in one place.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cio_sync_local.emulator import limits
from cio_sync_local.emulator.faults import FaultConfig, TrafficControl, Verdict
from cio_sync_local.emulator.limits import Violation
from cio_sync_local.emulator.openapi import TrackSchemas, violations
from cio_sync_local.emulator.page import render_page
from cio_sync_local.emulator.state import IDENTIFY_CONTROL_KEYS, EmulatorState

CONTROL_PREFIX = "/_emulator"
APP_SEND_EMAIL_PATH = "/v1/send/email"
IDLE_CONNECTION_TIMEOUT_S = 120
"""Idle keep-alive connections are closed after this, so a long local run does not collect threads."""
EMAIL_IDENTIFIER_KEYS = ("id", "email", "cio_id")
PERSON_IDENTIFIER_KEYS = ("id", "email", "phone", "cio_id")


@dataclass(frozen=True)
class Reply:
    """An answer to send; `drop` means close the connection without answering (an injected fault)."""

    status: int
    body: Any = None
    content_type: str = "application/json"
    drop: bool = False

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


def _v1_error(status: int, problems: list[Violation]) -> Reply:
    """Track v1 errors: `{"meta": {"errors": ["..."]}}`, as the OpenAPI document's 400 response says."""
    return Reply(status, {"meta": {"errors": [f"{p.field}: {p.message}" for p in problems]}})


def _v2_error(status: int, problems: list[Violation]) -> Reply:
    """Track v2 whole-request errors: `{"errors": [{"reason", "field", "message"}]}`."""
    return Reply(
        status, {"errors": [{"reason": p.reason, "field": p.field, "message": p.message} for p in problems]}
    )


def _meta_error(status: int, message: str) -> Reply:
    """App API (and auth) errors: `{"meta": {"error": "..."}}`."""
    return Reply(status, {"meta": {"error": message}})


def _parse_json(body: bytes, *, empty_as: Any = None) -> tuple[Any, list[Violation]]:
    if not body.strip():
        if empty_as is not None:
            return empty_as, []
        return None, [Violation("invalid", "body", "request body is empty")]
    try:
        return json.loads(body), []
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, [Violation("invalid", "body", "request body is not valid JSON")]


def _person_identifier(identifiers: Any) -> str | None:
    """The one identifier value of a v2 person (schema validation has already ensured there is one)."""
    if not isinstance(identifiers, dict):
        return None
    for key in PERSON_IDENTIFIER_KEYS:
        value = identifiers.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    return None


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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._track_credentials = f"{site_id}:{track_api_key}".encode()
        self._bearer = f"Bearer {app_api_key}"
        self._schemas = schemas
        self._initial_faults = faults
        self.state = EmulatorState()
        self.traffic = TrafficControl(faults, clock=clock)
        # Cleared: API requests wait here before they are answered (a service that does not answer).
        self.answering = threading.Event()
        self.answering.set()

    # ---- entry point -------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one request; `headers` keys are lower-case."""
        split = urlsplit(target)
        path = split.path
        if path == "/" or path.startswith(CONTROL_PREFIX + "/") or path == CONTROL_PREFIX:
            return self._control(method, path, parse_qs(split.query), body)
        self.answering.wait()
        verdict, config = self.traffic.admit()
        if config.latency_ms:
            time.sleep(config.latency_ms / 1000)
        faulted = _fault_reply(verdict, config)
        reply, operations = (faulted, 0) if faulted is not None else self._api(method, path, headers, body)
        self.state.record_request(method, path, 0 if reply.drop else reply.status, operations)
        return reply

    # ---- Customer.io API ---------------------------------------------------------------------------

    def _api(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> tuple[Reply, int]:
        """Route, authenticate, then answer; returns the reply and how many operations the request carried."""
        authorization = headers.get("authorization", "")
        if path == APP_SEND_EMAIL_PATH:
            if method != "POST":
                return _meta_error(405, "method not allowed"), 0
            if not hmac.compare_digest(authorization.encode(), self._bearer.encode()):
                return _meta_error(401, "Unauthorized request"), 0
            return self._send_email(body)
        route = _track_route(method, path)
        if route is None:
            return _meta_error(404, "not found"), 0
        if not self._track_authorized(authorization):
            return _meta_error(401, "Unauthorized request"), 0
        operation, person_id = route
        handlers = {
            "identify": self._v1_identify,
            "delete": self._v1_delete,
            "event": self._v1_event,
            "entity": self._v2_entity,
            "batch": self._v2_batch,
        }
        return handlers[operation](person_id, body)

    def _track_authorized(self, authorization: str) -> bool:
        if not authorization.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(decoded, self._track_credentials)

    def _schema(self, name: str) -> Any:
        return getattr(self._schemas, name) if self._schemas is not None else None

    def _operation_schema(self, operation: Any, fallback: str) -> Any:
        if self._schemas is None:
            return None
        return self._schemas.for_operation(operation, getattr(self._schemas, fallback))

    def _v1_identify(self, person_id: str, raw: bytes) -> tuple[Reply, int]:
        body, problems = _parse_json(raw, empty_as={})
        problems += limits.check_identifier(person_id, "identifier")
        if not problems:
            problems += violations(self._schema("identify"), body)
        if not problems and not isinstance(body, dict):
            problems.append(Violation("invalid", "body", "request body must be a JSON object"))
        if problems:
            return _v1_error(400, problems), 1
        attributes = {k: v for k, v in body.items() if k not in IDENTIFY_CONTROL_KEYS}
        problems += limits.check_attributes(attributes)
        if isinstance(body.get("id"), str):
            problems += limits.check_identifier(body["id"], "id")
        with self.state.lock:
            problems += limits.check_profile_size(self.state.merged_attribute_count(person_id, body))
            if problems:
                return _v1_error(400, problems), 1
            self.state.identify(
                person_id,
                body,
                update_only=body.get("_update") is True,
                timestamp=_integer_or_none(body.get("_timestamp")),
            )
        return Reply(200, {}), 1

    def _v1_delete(self, person_id: str, _raw: bytes) -> tuple[Reply, int]:
        problems = limits.check_identifier(person_id, "identifier")
        if problems:
            return _v1_error(400, problems), 1
        self.state.delete(person_id)
        return Reply(200, {}), 1

    def _v1_event(self, person_id: str, raw: bytes) -> tuple[Reply, int]:
        body, problems = _parse_json(raw)
        problems += limits.check_identifier(person_id, "identifier")
        if not problems:
            problems += violations(self._schema("track_event"), body)
        if not problems and not (isinstance(body, dict) and isinstance(body.get("name"), str)):
            problems.append(Violation("invalid", "name", "event name is required"))
        if problems:
            return _v1_error(400, problems), 1
        data = body.get("data") or {}
        problems += limits.check_event(body["name"], data, "name", "data")
        if problems:
            return _v1_error(400, problems), 1
        self.state.add_event(
            person_id,
            body["name"].strip(),
            data if isinstance(data, dict) else {"value": data},
            event_id=_string_or_none(body.get("id")),
            timestamp=_integer_or_none(body.get("timestamp")),
        )
        return Reply(200, {}), 1

    def _v2_entity(self, _person_id: str, raw: bytes) -> tuple[Reply, int]:
        body, problems = _parse_json(raw)
        problems += limits.check_item_size(len(raw), "body")
        if not problems:
            problems += violations(self._operation_schema(body, "entity"), body)
        if not problems and not isinstance(body, dict):
            problems.append(Violation("invalid", "body", "request body must be a JSON object"))
        if not problems:
            problems = self._apply_v2_operation(body)
        return (_v2_error(400, problems) if problems else Reply(200, {})), 1

    def _v2_batch(self, _person_id: str, raw: bytes) -> tuple[Reply, int]:
        """200 when every item applied, 207 naming the failed items by `batch_index`, 400 for the request."""
        body, problems = _parse_json(raw)
        problems = limits.check_batch_body(len(raw)) or problems
        if not problems and not (isinstance(body, dict) and isinstance(body.get("batch"), list)):
            problems.append(
                Violation("invalid", "batch", "request body must be an object with a batch array")
            )
        if not problems:
            problems += violations(self._schema("batch"), {**body, "batch": []})
        if problems:
            return _v2_error(400, problems), 0
        items: list[Any] = body["batch"]
        errors = [
            {"batch_index": index, "reason": p.reason, "field": p.field, "message": p.message}
            for index, item in enumerate(items)
            for p in self._batch_item(item)
        ]
        return (Reply(207, {"errors": errors}) if errors else Reply(200, {})), len(items)

    def _batch_item(self, item: Any) -> list[Violation]:
        """Check one batch item and apply it when valid; an invalid item changes nothing."""
        problems = limits.check_item_size(limits.json_size(item), "item")
        if not problems:
            problems = violations(self._operation_schema(item, "batch_item"), item)
        if not problems and not isinstance(item, dict):
            problems = [Violation("invalid", "item", "batch item must be a JSON object")]
        return problems or self._apply_v2_operation(item)

    def _apply_v2_operation(self, item: dict[str, Any]) -> list[Violation]:
        """Apply one schema-valid v2 operation to state, or return the limits it breaks (nothing applied)."""
        if item.get("type") != "person":
            self.state.count_unmodelled()
            return []
        person_id = _person_identifier(item.get("identifiers"))
        attributes = item.get("attributes") or {}
        if person_id is None or not isinstance(attributes, dict):
            return [Violation("invalid", "identifiers", "exactly one person identifier is required")]
        problems = limits.check_identifier(person_id, "identifiers")
        action = item.get("action")
        if action == "identify":
            return problems or self._v2_identify(person_id, item, attributes)
        if action == "event":
            return problems or self._v2_event(person_id, item, attributes)
        if not problems and action == "delete":
            self.state.delete(person_id)
        elif not problems:
            self.state.count_unmodelled()
        return problems

    def _v2_identify(
        self, person_id: str, item: dict[str, Any], attributes: dict[str, Any]
    ) -> list[Violation]:
        problems = limits.check_attributes({k: v for k, v in attributes.items() if k != "_update"})
        with self.state.lock:
            problems += limits.check_profile_size(self.state.merged_attribute_count(person_id, attributes))
            if not problems:
                self.state.identify(
                    person_id,
                    attributes,
                    update_only=attributes.get("_update") is True,
                    timestamp=_integer_or_none(item.get("timestamp")),
                )
        return problems

    def _v2_event(self, person_id: str, item: dict[str, Any], attributes: dict[str, Any]) -> list[Violation]:
        name = item.get("name")
        if not isinstance(name, str):
            return [Violation("invalid", "name", "event name is required")]
        problems = limits.check_event(name, attributes, "name", "attributes")
        if not problems:
            self.state.add_event(
                person_id,
                name.strip(),
                attributes,
                event_id=_string_or_none(item.get("id")),
                timestamp=_integer_or_none(item.get("timestamp")),
            )
        return problems

    def _send_email(self, raw: bytes) -> tuple[Reply, int]:
        body, problems = _parse_json(raw)
        problem = "request body must be a JSON object" if problems or not isinstance(body, dict) else None
        problem = problem or _email_problem(body)
        if problem:
            return _meta_error(400, problem), 0
        key, value = next(iter(body["identifiers"].items()))
        delivery = self.state.add_delivery(body, None if key == "cio_id" else str(value))
        return Reply(200, {"delivery_id": delivery.delivery_id, "queued_at": delivery.queued_at}), 1

    # ---- inspection and control --------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return {**self.state.counters_json(), **self.traffic.stats()}

    def reset(self) -> None:
        """Forget everything and return to the faults the emulator was started with."""
        self.state.reset()
        self.traffic.reset(self._initial_faults)

    def set_faults(self, changes: Mapping[str, Any]) -> FaultConfig:
        config = self.traffic.config.updated(changes)
        self.traffic.configure(config)
        return config

    def _control(self, method: str, path: str, query: dict[str, list[str]], raw: bytes) -> Reply:
        route = path[len(CONTROL_PREFIX) :].rstrip("/") if path != "/" else "/"
        if method == "GET":
            return self._inspect(route, query)
        if method == "POST" and route == "/reset":
            self.reset()
            return Reply(200, {"reset": True})
        if method == "POST" and route == "/faults":
            return self._post_faults(raw)
        return _meta_error(404, "no such emulator endpoint")

    def _post_faults(self, raw: bytes) -> Reply:
        changes, problems = _parse_json(raw, empty_as={})
        if problems or not isinstance(changes, dict):
            return _meta_error(400, "faults must be a JSON object")
        try:
            return Reply(200, self.set_faults(changes).to_json())
        except (ValueError, TypeError) as error:
            return _meta_error(400, str(error))

    def _inspect(self, route: str, query: dict[str, list[str]]) -> Reply:
        if route.startswith("/profiles/"):
            with self.state.lock:
                profile = self.state.profile(unquote(route[len("/profiles/") :]))
                return Reply(200, profile.to_json()) if profile else _meta_error(404, "no such profile")
        views: dict[str, Callable[[], Any]] = {
            "/": self._page,
            "/profiles": self.state.profiles_json,
            "/events": lambda: self._events(query.get("person_id", [None])[0]),
            "/emails": self.state.emails_json,
            "/requests": self.state.requests_json,
            "/stats": self.stats,
            "/faults": self._faults_json,
        }
        view = views.get(route)
        if view is None:
            return _meta_error(404, "no such emulator endpoint")
        result = view()
        return result if isinstance(result, Reply) else Reply(200, result)

    def _faults_json(self) -> dict[str, Any]:
        return self.traffic.config.to_json()

    def _page(self) -> Reply:
        html = render_page(
            self.state.profiles_json(), self.state.events_json(), self.state.emails_json(), self.stats()
        )
        return Reply(200, html, content_type="text/html; charset=utf-8")

    def _events(self, person_id: str | None) -> list[dict[str, Any]]:
        events = self.state.events_json()
        return events if person_id is None else [e for e in events if e["person_id"] == person_id]


def _fault_reply(verdict: Verdict, config: FaultConfig) -> Reply | None:
    """The injected answer for a faulted request, or None to serve it normally."""
    replies = {
        Verdict.RATE_LIMITED: _meta_error(429, "rate limit exceeded"),
        Verdict.DROP: Reply(0, drop=True),
        Verdict.FAIL: _meta_error(config.fail_status, "injected failure"),
    }
    return replies.get(verdict)


_V1_ROUTES = {("PUT", 5): "identify", ("DELETE", 5): "delete", ("POST", 6): "event"}
_V2_ROUTES = {("POST", "/api/v2/entity"): "entity", ("POST", "/api/v2/batch"): "batch"}


def _track_route(method: str, path: str) -> tuple[str, str] | None:
    """(operation, person id) for a Track method and path, or None when Customer.io has no such route."""
    parts = path.split("/")
    if parts[:4] == ["", "api", "v1", "customers"] and len(parts) in {5, 6} and parts[4]:
        operation = _V1_ROUTES.get((method, len(parts)))
        if operation is None or (len(parts) == 6 and parts[5] != "events"):
            return None
        return operation, unquote(parts[4])
    operation = _V2_ROUTES.get((method, path))
    return (operation, "") if operation else None


def _email_problem(body: dict[str, Any]) -> str | None:
    """Why Customer.io's App API would refuse this send-email body, or None. Names fields, never values."""
    to = body.get("to")
    message_id = body.get("transactional_message_id")
    identifiers = body.get("identifiers")
    problem: str | None = None
    if not isinstance(to, str) or not to.strip():
        problem = "to is required"
    elif not _is_id_value(message_id):
        problem = "transactional_message_id is required"
    elif (
        not isinstance(identifiers, dict)
        or len(identifiers) != 1
        or next(iter(identifiers)) not in EMAIL_IDENTIFIER_KEYS
        or not _is_id_value(next(iter(identifiers.values())))
    ):
        problem = "identifiers must hold exactly one of id, email, cio_id"
    elif limits.check_identifier(str(next(iter(identifiers.values()))), "identifiers"):
        problem = f"the identifier is longer than {limits.MAX_ID_BYTES} bytes"
    elif "message_data" in body and not isinstance(body["message_data"], dict):
        problem = "message_data must be an object"
    return problem


def _is_id_value(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool) and value != ""


def _integer_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _string_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


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
        reply = self.server.app.handle(self.command, self.path, headers, body)
        if reply.drop:
            self.close_connection = True
            return
        payload = reply.encoded()
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if not length_header:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            self.send_error(400, "bad Content-Length")
            return None
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in {b"\r\n", b"\n", b""}:
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: `/_emulator/requests` is the request log, and stderr noise slows the server down."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: EmulatorApp) -> None:
        self.app = app
        super().__init__(address, _Handler)


class Emulator:
    """A local Customer.io on one base URL: Track paths, App `/v1/send/email`, `/_emulator/...` and `/`.

    `Emulator(...).start()` serves from a background thread until `stop()`; it is also a context manager.
    Missing OpenAPI document: construction fails unless `validate=False` is passed on purpose.
    """

    def __init__(
        self,
        site_id: str = "site",
        track_api_key: str = "track-key",
        app_api_key: str = "app-key",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        openapi_path: str | Path | None = None,
        validate: bool = True,
        faults: FaultConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock` times the rate limit's one-second window (tests pass a fake one)."""
        schemas = TrackSchemas.load(Path(openapi_path) if openapi_path else None) if validate else None
        self.site_id = site_id
        self.track_api_key = track_api_key
        self.app_api_key = app_api_key
        self._host = host
        self._port = port
        self.app = EmulatorApp(
            site_id=site_id,
            track_api_key=track_api_key,
            app_api_key=app_api_key,
            schemas=schemas,
            faults=faults or FaultConfig(),
            clock=clock,
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> EmulatorState:
        return self.app.state

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    def start(self) -> Emulator:
        if self._server is not None:
            return self
        self._server = _Server((self._host, self._port), self.app)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="cio-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def serve_until_stopped(self) -> None:
        """Block the calling thread while serving (the CLI's foreground mode)."""
        if self._thread is not None:
            self._thread.join()

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
