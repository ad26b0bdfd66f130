"""Customer.io as the product's real HTTP clients meet it: a urllib3 `Pool` that plays the Track v2 batch,
the App API's send-email and people endpoints, in memory and on the machine's fake clock.

What the real one does and this models (docs/customerio.md):
- per-attribute timestamps: an identify whose `timestamp` is older than an attribute's last change is
  dropped for that attribute (no timestamp: Customer.io's own clock);
- asynchronous application: a 200 may be applied late, after later requests;
- a delete forgets the person (and their timestamps); a later identify re-creates them; an event for an
  unknown id creates the person too;
- a 207 per item (`batch_index`: a passing reason, or "invalid"), or without an index; 429, 5xx, timeouts
  before and after it acted;
- a person unsubscribing inside Customer.io, stamped by its clock (`opt_out`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import urllib3
from urllib3 import HTTPResponse
from urllib3.exceptions import ConnectTimeoutError, ReadTimeoutError

TRACK_FAULTS: Final = (
    "429",
    "500",
    "207-index",
    "207-invalid",
    "207-no-index",
    "timeout-before",
    "timeout-after",
    "late",
)
APP_FAULTS: Final = ("429", "500", "timeout-before", "timeout-after")


@dataclass
class Person:
    attributes: dict[str, Any] = field(default_factory=dict)
    stamps: dict[str, int] = field(default_factory=dict)
    opted_out: bool = False  # unsubscribed inside Customer.io, and no write since subscribed them again


@dataclass
class SentEmail:
    intent_id: str
    to: str
    message_id: str
    outcome_unknown: bool = False


class FakeCustomerIo:
    """One workspace. `now` is the machine's clock (unix seconds)."""

    def __init__(self, now: Callable[[], float], placeholder_id: str, *, deletes_late: bool = True) -> None:
        self.now = now
        self.deletes_late = deletes_late
        self.people: dict[str, Person] = {placeholder_id: Person({"id": placeholder_id})}
        self.events: dict[str, tuple[str, str]] = {}  # event id -> (person id, name)
        self.late: list[list[dict[str, Any]]] = []
        self.track_faults: list[str] = []
        self.app_faults: list[str] = []
        self.emails: list[SentEmail] = []
        self.sending_intent = ""  # set by the email wiring: which intent the next send is for
        self.requests = 0
        self.interrupt: BaseException | None = None  # raised after the next batch is applied (a timeout)
        self.undone_opt_outs: list[str] = []
        self.suppressed: set[str] = set()

    # --- the workspace -------------------------------------------------------------------------------

    def apply(self, item: Mapping[str, Any]) -> None:
        person_id = str(item["identifiers"]["id"])
        action = item["action"]
        if action in {"delete", "suppress"}:
            self.people.pop(person_id, None)
            if action == "suppress":  # deleted, and nothing re-creates the id until it is unsuppressed
                self.suppressed.add(person_id)
            return
        if action == "unsuppress":
            self.suppressed.discard(person_id)
            return
        if person_id in self.suppressed:
            return
        person = self.people.setdefault(person_id, Person({"id": person_id}))
        if action == "event":
            self.events.setdefault(str(item["id"]), (person_id, str(item["name"])))
            return
        stamp = int(self.now()) if item.get("timestamp") is None else int(item["timestamp"])
        for name, value in dict(item.get("attributes") or {}).items():
            if stamp < person.stamps.get(name, -1):
                continue  # older than this attribute's last change: dropped for it
            person.stamps[name] = stamp
            if name == "unsubscribed" and value is False and person.opted_out:
                self.undone_opt_outs.append(person_id)
            if value is None or value == "":
                person.attributes.pop(name, None)
            else:
                person.attributes[name] = value

    def apply_late(self, count: int = 1) -> None:
        for _ in range(min(count, len(self.late))):
            for item in self.late.pop(0):
                self.apply(item)

    def profiles(self) -> dict[str, dict[str, Any]]:
        """Person id -> attributes, as the emulator's /_emulator/profiles answers (the id is the key)."""
        return {
            person_id: {name: value for name, value in person.attributes.items() if name != "id"}
            for person_id, person in self.people.items()
        }

    def opt_out(self, person_id: str) -> bool:
        """A person unsubscribes inside Customer.io (link, preference centre): its clock stamps it."""
        person = self.people.get(person_id)
        if person is None:
            return False
        person.attributes["unsubscribed"] = True
        person.stamps["unsubscribed"] = int(self.now())
        person.opted_out = True
        return True

    # --- HTTP ----------------------------------------------------------------------------------------

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
        self.requests += 1
        parts = urlsplit(url)
        data = json.loads(body) if body else {}
        if parts.path == "/api/v2/batch":
            return self._batch(data["batch"])
        if parts.path == "/v1/send/email":
            return self._send_email(data)
        if parts.path == "/v1/customers":
            return self._search(data["filter"], parse_qs(parts.query))
        if parts.path == "/v1/customers/attributes":
            return self._attributes(data["ids"])
        raise AssertionError(f"unexpected request {method} {parts.path}")

    def _batch(self, items: list[dict[str, Any]]) -> HTTPResponse:
        fault = self.track_faults.pop(0) if self.track_faults else ""
        refused = _refused_answer(fault)
        if refused is not None:
            return refused
        if fault == "timeout-before":
            raise ConnectTimeoutError("connect timed out")
        if fault == "late":
            late = [item for item in items if self.deletes_late or item["action"] != "delete"]
            for item in items:
                if item["action"] == "delete" and not self.deletes_late:
                    self.apply(item)
            self.late.append(late)
            return _answer(200, {})
        if fault.startswith("207"):
            kept = items[1:]
            for item in kept:
                self.apply(item)
            error: dict[str, Any] = {"reason": "internal", "message": "try again"}
            if fault == "207-invalid":  # a permanent item error: parked for an operator to redrive
                error = {"reason": "invalid", "message": "not accepted", "batch_index": 0}
            if fault == "207-index":
                error["batch_index"] = 0
            return _answer(207, {"errors": [error]})
        for item in items:
            self.apply(item)
        if self.interrupt is not None:
            interrupt, self.interrupt = self.interrupt, None
            raise interrupt
        if fault == "timeout-after":
            raise ReadTimeoutError(None, "/api/v2/batch", "read timed out")  # type: ignore[arg-type]
        return _answer(200, {})

    def _send_email(self, data: Mapping[str, Any]) -> HTTPResponse:
        fault = self.app_faults.pop(0) if self.app_faults else ""
        refused = _refused_answer(fault)
        if refused is not None:
            return refused
        if fault == "timeout-before":
            raise ConnectTimeoutError("connect timed out")
        sent = SentEmail(self.sending_intent, str(data["to"]), str(data["transactional_message_id"]))
        self.emails.append(sent)
        if fault == "timeout-after":
            sent.outcome_unknown = True
            raise ReadTimeoutError(None, "/v1/send/email", "read timed out")  # type: ignore[arg-type]
        return _answer(200, {"delivery_id": f"delivery-{len(self.emails)}", "queued_at": int(self.now())})

    def _search(self, filter_: Mapping[str, Any], query: Mapping[str, list[str]]) -> HTTPResponse:
        attribute = filter_.get("attribute", {})
        if attribute.get("operator") == "eq":
            wanted = attribute.get("value")
            found = [pid for pid, person in self.people.items() if person.attributes.get("email") == wanted]
        else:
            found = sorted(self.people)
        start = int(query.get("start", ["0"])[0])
        limit = int(query.get("limit", ["1000"])[0])
        page = found[start : start + limit]
        following = str(start + limit) if start + limit < len(found) else ""
        identifiers = [{"id": pid, "cio_id": f"cio{pid}", "email": None} for pid in page]
        return _answer(200, {"identifiers": identifiers, "ids": page, "next": following})

    def _attributes(self, ids: list[str]) -> HTTPResponse:
        customers = [
            {"customer": {"id": pid, "attributes": dict(self.people[pid].attributes)}}
            for pid in ids
            if pid in self.people
        ]
        return _answer(200, {"customers": customers})


def _refused_answer(fault: str) -> HTTPResponse | None:
    if fault == "429":
        return _answer(429, {"meta": {"error": "rate limited"}}, {"Retry-After": "1"})
    if fault == "500":
        return _answer(500, {"meta": {"error": "internal"}})
    return None


def _answer(status: int, body: Any, headers: Mapping[str, str] | None = None) -> HTTPResponse:
    return HTTPResponse(
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        status=status,
    )
