"""Socket-free stand-ins: a clock that only moves when told, and a requests adapter that plays Customer.io.

The adapter checks every Track request against Customer.io's OpenAPI document and every App request
against the documented send-email shape, then answers from a script, so unit tests see real `requests`
responses and exceptions without a network.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from urllib3 import HTTPResponse

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

    @property
    def json(self) -> Any:
        assert self.body is not None
        return json.loads(self.body)


Script = Answer | requests.RequestException
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


class FakeCustomerIo(BaseAdapter):
    """Mount on a session; answers from `script` in order (then 200 {}), or from a responder function."""

    def __init__(self, clock: FakeClock, *script: Script, latency_s: float = 0.01) -> None:
        super().__init__()
        self.clock = clock
        self.script: list[Script] = list(script)
        self.responder: Responder | None = None
        self.latency_s = latency_s
        self.seen: list[Seen] = []
        self._builder = HTTPAdapter()

    def send(  # noqa: PLR0917 - requests' own adapter signature
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: object = None,
        verify: bool | str = True,
        cert: object = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        url = urlsplit(request.url or "")
        body = request.body.encode() if isinstance(request.body, str) else request.body
        seen = Seen(
            request.method or "", url.path, dict(request.headers), body or None, timeout, self.clock()
        )
        self.seen.append(seen)
        if url.path.startswith("/api/"):
            check_track_request(seen.method, seen.path, seen.body)
            assert seen.headers["Authorization"].startswith("Basic ")
        else:
            assert url.path == "/v1/send/email", url.path
            _check_send_email(seen)
            assert seen.headers["Authorization"].startswith("Bearer ")
        self.clock.advance(self.latency_s)
        if self.responder is not None:
            outcome = self.responder(seen)
        else:
            outcome = self.script.pop(0) if self.script else Answer()
        if isinstance(outcome, requests.RequestException):
            raise outcome
        raw = HTTPResponse(
            body=io.BytesIO(json.dumps(outcome.body).encode()),
            headers={"Content-Type": "application/json", **outcome.headers},
            status=outcome.status,
            preload_content=False,
        )
        return self._builder.build_response(request, raw)

    def close(self) -> None:
        self._builder.close()


def fake_session(adapter: FakeCustomerIo) -> requests.Session:
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
