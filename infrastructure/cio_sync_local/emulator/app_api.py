"""The App API endpoints the emulator serves (Bearer auth is checked by the server before these run).

- `POST /v1/send/email`: queue a transactional email (100 requests a second);
- `GET /v1/transactional`, `GET /v1/transactional/{id}`: the workspace's transactional messages;
- `POST /v1/customers`: search people with a `filter`, paged with `start` / `limit` / `next`;
- `POST /v1/customers/attributes`: attributes of up to 100 people by identifier;
- `GET` / `POST /v1/reporting_webhooks`: list and create reporting webhooks (`webhooks.WebhookSender`).

Every endpoint but the send is limited to 10 requests a second, as Customer.io documents ("Aside from the
API-triggered broadcast (1 per 10 seconds) and Transactional (100 per second) endpoints, requests are
limited to 10 per second", https://docs.customer.io/api/app/). Request shapes: `app_schemas`.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cio_sync_local.emulator import limits
from cio_sync_local.emulator.app_schemas import (
    ATTRIBUTES_ID_TYPES,
    CUSTOMER_ATTRIBUTES,
    SEARCH_CUSTOMERS,
    SEARCH_LIMIT_DEFAULT,
    SEARCH_LIMIT_MAX,
    SEND_EMAIL,
    compiled,
)
from cio_sync_local.emulator.faults import SlidingWindowLimiter
from cio_sync_local.emulator.openapi import violations
from cio_sync_local.emulator.records import Profile, is_unsubscribed
from cio_sync_local.emulator.replies import Reply, meta_error, parse_json
from cio_sync_local.emulator.state import EmulatorState
from cio_sync_local.emulator.webhooks import WebhookSender

APP_RATE_LIMIT_PER_S = 10
SEND_RATE_LIMIT_PER_S = 100
SEND_EMAIL_PATH = "/v1/send/email"
REPORTING_WEBHOOKS_PATH = "/v1/reporting_webhooks"
EMAIL_IDENTIFIER_KEYS = ("id", "email", "cio_id")


@dataclass(frozen=True)
class TransactionalMessage:
    """A transactional message (template) in the workspace, with the settings a send can override.

    `trigger_name` is what a send may use instead of the numeric id; Customer.io's list and get answers
    do not include it, so it never appears in them here either.
    """

    id: int
    name: str
    trigger_name: str | None = None
    description: str = ""
    send_to_unsubscribed: bool = True
    link_tracking: bool = True
    open_tracking: bool = True
    hide_message_body: bool = False
    queue_drafts: bool = False
    created_at: int = 1_700_000_000
    updated_at: int = 1_700_000_000

    def to_json(self) -> dict[str, Any]:
        """The documented fields of GET /v1/transactional(/{id})."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "send_to_unsubscribed": self.send_to_unsubscribed,
            "link_tracking": self.link_tracking,
            "open_tracking": self.open_tracking,
            "hide_message_body": self.hide_message_body,
            "queue_drafts": self.queue_drafts,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


DEFAULT_TRANSACTIONAL_MESSAGES: tuple[TransactionalMessage, ...] = (
    TransactionalMessage(1, "Forgot password", "forgot_password", "cio-sync: a password reset link"),
    TransactionalMessage(2, "Password updated", "password_updated", "cio-sync: the password was changed"),
)
"""A fresh emulator's workspace: the two messages cio-sync sends, under its default trigger names."""


class AppApi:
    """Routes and answers App API requests against the shared workspace state."""

    ROUTES: Mapping[str, str] = {
        SEND_EMAIL_PATH: "POST",
        "/v1/transactional": "GET",
        "/v1/customers": "POST",
        "/v1/customers/attributes": "POST",
        REPORTING_WEBHOOKS_PATH: "GET",
    }

    def __init__(
        self,
        state: EmulatorState,
        messages: Sequence[TransactionalMessage] = DEFAULT_TRANSACTIONAL_MESSAGES,
        *,
        webhooks: WebhookSender | None = None,
        rate_limit_per_s: int | None = APP_RATE_LIMIT_PER_S,
        send_rate_limit_per_s: int | None = SEND_RATE_LIMIT_PER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        ids = [message.id for message in messages]
        if len(set(ids)) != len(ids):
            raise ValueError("transactional message ids must be unique")
        self.state = state
        self.messages = {message.id: message for message in messages}
        self.webhooks = webhooks if webhooks is not None else WebhookSender("")
        self.read_limiter = SlidingWindowLimiter(rate_limit_per_s, clock=clock)
        self.send_limiter = SlidingWindowLimiter(send_rate_limit_per_s, clock=clock)
        self._send_email = compiled(SEND_EMAIL)
        self._search = compiled(SEARCH_CUSTOMERS)
        self._attributes = compiled(CUSTOMER_ATTRIBUTES)

    # ---- routing -----------------------------------------------------------------------------------

    def method_for(self, path: str) -> str | None:
        """The one method the App API path takes, or None when the App API has no such path here."""
        if path.startswith("/v1/transactional/") and path.count("/") == 3:
            return "GET"
        return self.ROUTES.get(path)

    def methods_for(self, path: str) -> frozenset[str]:
        """Every method the path takes (reporting webhooks are listed with GET and created with POST)."""
        if path == REPORTING_WEBHOOKS_PATH:
            return frozenset({"GET", "POST"})
        method = self.method_for(path)
        return frozenset({method}) if method else frozenset()

    def admit(self, path: str) -> bool:
        limiter = self.send_limiter if path == SEND_EMAIL_PATH else self.read_limiter
        return limiter.admit()

    def handle(
        self, path: str, query: Mapping[str, list[str]], raw: bytes, method: str = ""
    ) -> tuple[Reply, int]:
        """Answer an authenticated, admitted request on a known path with its method."""
        if path == REPORTING_WEBHOOKS_PATH:
            return self.reporting_webhooks(method, raw), 0
        if path == SEND_EMAIL_PATH:
            return self.send_email(raw)
        if path == "/v1/transactional":
            return Reply(200, {"messages": [m.to_json() for m in self.messages.values()]}), 0
        if path.startswith("/v1/transactional/"):
            return self.transactional_message(path.rsplit("/", 1)[1]), 0
        if path == "/v1/customers":
            return self.search_customers(query, raw), 0
        return self.customer_attributes(query, raw), 0

    def stats(self) -> dict[str, int]:
        return {"app_rate_limited": self.read_limiter.refused + self.send_limiter.refused}

    def reset(self) -> None:
        self.read_limiter.reset()
        self.send_limiter.reset()

    def reporting_webhooks(self, method: str, raw: bytes) -> Reply:
        if method == "GET":
            return Reply(200, {"reporting_webhooks": self.webhooks.list_json()})
        body, problems = parse_json(raw)
        if problems or not isinstance(body, dict):
            return meta_error(400, "request body must be a JSON object")
        try:
            return Reply(200, self.webhooks.create(body).to_json())
        except ValueError as error:
            return meta_error(400, str(error))

    # ---- transactional -----------------------------------------------------------------------------

    def transactional_message(self, raw_id: str) -> Reply:
        message = self.messages.get(int(raw_id)) if raw_id.isdigit() else None
        if message is None:
            return meta_error(404, "transactional message not found")
        return Reply(200, {"message": message.to_json()})

    def resolve_message(self, value: Any) -> TransactionalMessage | None:
        """A numeric id names a message by id; a string by its trigger name (ignoring case), else by id."""
        if isinstance(value, int) and not isinstance(value, bool):
            return self.messages.get(value)
        if isinstance(value, str):
            wanted = value.strip().lower()
            for message in self.messages.values():
                if message.trigger_name is not None and message.trigger_name.lower() == wanted:
                    return message
            if wanted.isdigit():
                return self.messages.get(int(wanted))
        return None

    def send_email(self, raw: bytes) -> tuple[Reply, int]:
        body, problems = parse_json(raw)
        problem = "request body must be a JSON object" if problems or not isinstance(body, dict) else None
        problem = problem or _email_problem(body) or _first_violation(self._send_email, body)
        if problem:
            return meta_error(400, problem), 0
        kind, value = next(iter(body["identifiers"].items()))
        message = self.resolve_message(body["transactional_message_id"])
        effective = {
            "disable_message_retention": body.get(
                "disable_message_retention", message.hide_message_body if message else False
            ),
            "send_to_unsubscribed": body.get(
                "send_to_unsubscribed", message.send_to_unsubscribed if message else True
            ),
            "tracked": body.get("tracked", message.link_tracking if message else True),
            "queue_draft": body.get("queue_draft", message.queue_drafts if message else False),
            "disable_css_preprocessing": body.get("disable_css_preprocessing", False),
        }
        delivery = self.state.add_delivery(
            body, (kind, str(value)), message_id=message.id if message else None, effective=effective
        )
        return Reply(200, {"delivery_id": delivery.delivery_id, "queued_at": delivery.queued_at}), 1

    # ---- people ------------------------------------------------------------------------------------

    def search_customers(self, query: Mapping[str, list[str]], raw: bytes) -> Reply:
        limit, after, problem = _page_parameters(query)
        body, problems = parse_json(raw)
        problem = problem or ("request body must be a JSON object" if problems else None)
        problem = problem or _first_violation(self._search, body)
        if problem:
            return meta_error(400, problem)
        node = body["filter"]
        with self.state.lock:
            page: list[Profile] = []
            next_token = ""
            for profile in self.state.people_in_order(after):
                if not _matches(node, profile):
                    continue
                if len(page) == limit:
                    next_token = _cursor(page[-1].seq)
                    break
                page.append(profile)
            identifiers = [self._identifiers(profile) for profile in page]
        return Reply(
            200,
            {"identifiers": identifiers, "ids": [item["id"] for item in identifiers], "next": next_token},
        )

    def customer_attributes(self, query: Mapping[str, list[str]], raw: bytes) -> Reply:
        id_type = query.get("id_type", ["id"])[-1]
        problem = None
        if id_type not in ATTRIBUTES_ID_TYPES:
            problem = f"id_type must be one of {', '.join(ATTRIBUTES_ID_TYPES)}"
        elif id_type == "phone" or (id_type == "email" and not self.state.email_is_identifier):
            problem = f"id_type {id_type} is not an identifier in this workspace"
        body, problems = parse_json(raw)
        problem = problem or ("request body must be a JSON object" if problems else None)
        problem = problem or _first_violation(self._attributes, body)
        if problem:
            return meta_error(400, problem)
        customers: list[dict[str, Any]] = []
        seen: set[str] = set()
        with self.state.lock:
            for value in body["ids"]:
                profile = self.state.find(id_type, value)
                if profile is not None and profile.cio_id not in seen:
                    seen.add(profile.cio_id)
                    customers.append({"customer": self._customer(profile)})
        return Reply(200, {"customers": customers})

    def _identifiers(self, profile: Profile) -> dict[str, Any]:
        """`{email, id, cio_id}`; email is null unless the workspace uses email as an identifier."""
        email = profile.attributes.get("email") if self.state.email_is_identifier else None
        return {
            "email": email if isinstance(email, str) and email else None,
            "id": profile.person_id,
            "cio_id": profile.cio_id,
        }

    def _customer(self, profile: Profile) -> dict[str, Any]:
        """One person as the App API shows them: every attribute value as a string."""
        attributes = {name: attribute_text(value) for name, value in profile.attributes.items()}
        attributes.update({"id": profile.person_id, "cio_id": profile.cio_id})
        created = int(profile.created)
        return {
            "id": profile.person_id,
            "identifiers": self._identifiers(profile),
            "attributes": attributes,
            "timestamps": {**profile.attribute_set_at, "id": created, "cio_id": created},
            "unsubscribed": is_unsubscribed(profile.attributes),
            "devices": [],
        }


def attribute_text(value: Any) -> str:
    """How the App API renders a stored attribute ("Attributes are all stored as strings")."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _matches(node: Mapping[str, Any], profile: Profile) -> bool:
    """Evaluate one schema-valid filter node against a person (segments: the emulator has none)."""
    if "and" in node:
        return all(_matches(child, profile) for child in node["and"])
    if "or" in node:
        return any(_matches(child, profile) for child in node["or"])
    if "not" in node:
        return not _matches(node["not"], profile)
    if "segment" in node:
        return False
    condition = node["attribute"]
    field = condition["field"]
    if field == "id":
        current: Any = profile.person_id
    elif field == "cio_id":
        current = profile.cio_id
    else:
        current = profile.attributes.get(field)
    present = current is not None
    if condition["operator"] == "exists":
        result = present
    else:
        result = present and attribute_text(current) == attribute_text(condition["value"])
    return not result if condition.get("inverse") is True else result


def _cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"emu:{seq}".encode()).decode().rstrip("=")


def _page_parameters(query: Mapping[str, list[str]]) -> tuple[int, int, str | None]:
    """(limit, the sequence number to continue after, a problem or None) from `limit` and `start`."""
    raw_limit = query.get("limit", [str(SEARCH_LIMIT_DEFAULT)])[-1]
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= SEARCH_LIMIT_MAX:
        return 0, 0, f"limit must be an integer from 1 to {SEARCH_LIMIT_MAX}"
    start = query.get("start", [""])[-1]
    if not start:
        return int(raw_limit), 0, None
    try:
        decoded = base64.urlsafe_b64decode(start + "=" * (-len(start) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    prefix, _, number = decoded.partition(":")
    if prefix != "emu" or not number.isdigit():
        return 0, 0, "start is not a cursor this API gave out"
    return int(raw_limit), int(number), None


def _first_violation(validator: Any, body: Any) -> str | None:
    problems = violations(validator, body)
    return f"{problems[0].field}: {problems[0].message}" if problems else None


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
