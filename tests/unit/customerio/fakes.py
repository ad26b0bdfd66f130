"""Socket-free stand-ins: a clock that only moves when told, and a connection pool that plays Customer.io.

The pool checks every Track request against Customer.io's OpenAPI document and every App request against
the documented send-email shape, then answers from a script, so unit tests see real urllib3 responses and
exceptions without a network.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import urllib3
from urllib3 import HTTPResponse
from urllib3.exceptions import HTTPError

from tests.unit.customerio.openapi_check import check_track_request


class FakeClock:
    """Monotonic time that advances only by `sleep` (recorded) or `advance`."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: Any = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Seen:
    """One request as Customer.io would receive it."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes | None
    timeout: Any
    at: float
    query: str = ""

    @property
    def json(self) -> Any:
        assert self.body is not None
        return json.loads(self.body)


Script = Answer | HTTPError
Responder = Callable[[Seen], Script]


def _check_send_email(seen: Seen) -> None:
    """The App API's send-email request, as Customer.io's docs define it (no OpenAPI document for App)."""
    assert seen.method == "POST"
    body = seen.json
    assert isinstance(body.get("to"), str), "send email needs `to`"
    assert body["to"], "send email needs `to`"
    assert isinstance(body.get("transactional_message_id"), str | int)
    identifiers = body.get("identifiers")
    assert isinstance(identifiers, dict)
    assert len(identifiers) == 1, "exactly one identifier"
    assert set(identifiers) <= {"id", "email", "cio_id"}
    assert isinstance(body.get("message_data", {}), dict)


PEOPLE_PATHS = ("/v1/customers", "/v1/customers/attributes")


def _check_people_request(seen: Seen) -> None:
    """Search (`filter`, `limit` 1..1000, `start`) and attributes (`ids`, 1 to 100), as documented."""
    assert seen.method == "POST"
    query = parse_qs(seen.query)
    body = seen.json
    if seen.path == "/v1/customers":
        assert set(body) == {"filter"}
        assert isinstance(body["filter"], dict)
        assert len(body["filter"]) == 1, "the top-level filter object accepts one property"
        assert 1 <= int(query["limit"][0]) <= 1000
        assert set(query) <= {"limit", "start"}
    else:
        assert query == {"id_type": ["id"]}
        assert set(body) == {"ids"}
        assert 1 <= len(body["ids"]) <= 100
        assert all(isinstance(value, str) for value in body["ids"])


class FakeCustomerIo:
    """A client's `pool`: answers from `script` in order (then 200 {}), or from a responder function."""

    def __init__(self, clock: FakeClock, *script: Script, latency_s: float = 0.01) -> None:
        self.clock = clock
        self.script: list[Script] = list(script)
        self.responder: Responder | None = None
        self.latency_s = latency_s
        self.seen: list[Seen] = []

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: urllib3.Timeout,
        redirect: bool,
        retries: bool,
    ) -> HTTPResponse:
        assert redirect is False, "redirects are errors (a wrong region), never followed"
        assert retries is False, "the transport retries, never urllib3"
        parts = urlsplit(url)
        limits = (timeout.connect_timeout, timeout.read_timeout)
        seen = Seen(method, parts.path, dict(headers), body or None, limits, self.clock(), parts.query)
        self.seen.append(seen)
        if parts.path.startswith("/api/"):
            check_track_request(seen.method, seen.path, seen.body)
            assert seen.headers["Authorization"].startswith("Basic ")
        else:
            if parts.path in PEOPLE_PATHS:
                _check_people_request(seen)
            else:
                assert parts.path == "/v1/send/email", parts.path
                _check_send_email(seen)
            assert seen.headers["Authorization"].startswith("Bearer ")
        self.clock.advance(self.latency_s)
        if self.responder is not None:
            outcome = self.responder(seen)
        else:
            outcome = self.script.pop(0) if self.script else Answer()
        if isinstance(outcome, HTTPError):
            raise outcome
        return HTTPResponse(
            body=json.dumps(outcome.body).encode(),
            headers={"Content-Type": "application/json", **outcome.headers},
            status=outcome.status,
        )
