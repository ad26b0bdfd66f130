"""The Track API's answers (v1 per person, v2 entity and batch), decided on plain values.

The server (`server.EmulatorApp`) routes, authenticates and checks the region; `TrackApi.handle` then
validates the body against Customer.io's OpenAPI document and its documented limits and applies it to
the state, returning the reply and the number of operations it counted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from cio_sync_local.emulator import limits
from cio_sync_local.emulator.limits import Violation
from cio_sync_local.emulator.openapi import TrackSchemas, as_validated_v1_identify, violations
from cio_sync_local.emulator.records import IDENTIFY_CONTROL_KEYS
from cio_sync_local.emulator.replies import Reply, parse_json, v1_error, v2_error
from cio_sync_local.emulator.state import EmulatorState

PERSON_IDENTIFIER_KEYS = ("id", "email", "phone", "cio_id")


def _person_identifier(identifiers: Any) -> str | None:
    """The one identifier value of a v2 person (schema validation has already ensured there is one)."""
    if not isinstance(identifiers, dict):
        return None
    for key in PERSON_IDENTIFIER_KEYS:
        value = identifiers.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    return None


_V1_ROUTES = {("PUT", 5): "identify", ("DELETE", 5): "delete"}
_V1_PERSON_ACTIONS = {"events": "event", "suppress": "suppress", "unsuppress": "unsuppress"}
_V2_ROUTES = {("POST", "/api/v2/entity"): "entity", ("POST", "/api/v2/batch"): "batch"}


def track_route(method: str, path: str) -> tuple[str, str] | None:
    """(operation, person id) for a Track method and path, or None when Customer.io has no such route."""
    parts = path.split("/")
    if parts[:4] == ["", "api", "v1", "customers"] and len(parts) in {5, 6} and parts[4]:
        if len(parts) == 6:
            operation = _V1_PERSON_ACTIONS.get(parts[5]) if method == "POST" else None
        else:
            operation = _V1_ROUTES.get((method, len(parts)))
        return (operation, unquote(parts[4])) if operation else None
    operation = _V2_ROUTES.get((method, path))
    return (operation, "") if operation else None


class TrackApi:
    """Track v1 and v2 on the emulator's state; `schemas` None serves without OpenAPI validation."""

    def __init__(self, state: EmulatorState, schemas: TrackSchemas | None) -> None:
        self._state = state
        self._schemas = schemas

    def handle(self, operation: str, person_id: str, raw: bytes) -> tuple[Reply, int]:
        """Answer one routed call (`track_route`); returns the reply and its operation count."""
        handlers: dict[str, Callable[[str, bytes], tuple[Reply, int]]] = {
            "identify": self._v1_identify,
            "delete": lambda person, _raw: self._v1_person_action(self._state.delete, person),
            "suppress": lambda person, _raw: self._v1_person_action(self._state.suppress, person),
            "unsuppress": lambda person, _raw: self._v1_person_action(self._state.unsuppress, person),
            "event": self._v1_event,
            "entity": self._v2_entity,
            "batch": self._v2_batch,
        }
        return handlers[operation](person_id, raw)

    def _schema(self, name: str) -> Any:
        return getattr(self._schemas, name) if self._schemas is not None else None

    def _operation_schema(self, operation: Any, fallback: str) -> Any:
        if self._schemas is None:
            return None
        return self._schemas.for_operation(operation, getattr(self._schemas, fallback))

    def _v1_identify(self, person_id: str, raw: bytes) -> tuple[Reply, int]:
        body, problems = parse_json(raw, empty_as={})
        problems += limits.check_identifier(person_id, "identifier")
        if not problems:
            checked = as_validated_v1_identify(body) if isinstance(body, dict) else body
            problems += violations(self._schema("identify"), checked)
        if not problems and not isinstance(body, dict):
            problems.append(Violation("invalid", "body", "request body must be a JSON object"))
        if problems:
            return v1_error(400, problems), 1
        attributes = {k: v for k, v in body.items() if k not in IDENTIFY_CONTROL_KEYS}
        problems += limits.check_attributes(attributes)
        if isinstance(body.get("id"), str):
            problems += limits.check_identifier(body["id"], "id")
        with self._state.lock:
            problems += limits.check_profile_size(self._state.merged_attribute_count(person_id, body))
            if problems:
                return v1_error(400, problems), 1
            self._state.identify(
                person_id,
                body,
                update_only=body.get("_update") is True,
                timestamp=_integer_or_none(body.get("_timestamp")),
                source="PUT /api/v1/customers/{identifier}",
            )
        return Reply(200, {}), 1

    def _v1_person_action(self, action: Callable[[str], object], person_id: str) -> tuple[Reply, int]:
        """DELETE a person, or POST its suppress/unsuppress: no body, only the identifier to check."""
        problems = limits.check_identifier(person_id, "identifier")
        if problems:
            return v1_error(400, problems), 1
        action(person_id)
        return Reply(200, {}), 1

    def _v1_event(self, person_id: str, raw: bytes) -> tuple[Reply, int]:
        body, problems = parse_json(raw)
        problems += limits.check_identifier(person_id, "identifier")
        if not problems:
            problems += violations(self._schema("track_event"), body)
        if not problems and not (isinstance(body, dict) and isinstance(body.get("name"), str)):
            problems.append(Violation("invalid", "name", "event name is required"))
        if problems:
            return v1_error(400, problems), 1
        data = body.get("data") or {}
        problems += limits.check_event(body["name"], data, "name", "data")
        if problems:
            return v1_error(400, problems), 1
        self._state.add_event(
            person_id,
            body["name"].strip(),
            data if isinstance(data, dict) else {"value": data},
            event_id=_string_or_none(body.get("id")),
            timestamp=_integer_or_none(body.get("timestamp")),
        )
        return Reply(200, {}), 1

    def _v2_entity(self, _person_id: str, raw: bytes) -> tuple[Reply, int]:
        body, problems = parse_json(raw)
        problems += limits.check_item_size(len(raw), "body")
        if not problems:
            problems += violations(self._operation_schema(body, "entity"), body)
        if not problems and not isinstance(body, dict):
            problems.append(Violation("invalid", "body", "request body must be a JSON object"))
        if not problems:
            problems = self._apply_v2_operation(body)
        return (v2_error(400, problems) if problems else Reply(200, {})), 1

    def _v2_batch(self, _person_id: str, raw: bytes) -> tuple[Reply, int]:
        """200 when every item applied, 207 naming the failed items by `batch_index`, 400 for the request."""
        body, problems = parse_json(raw)
        problems = limits.check_batch_body(len(raw)) or problems
        if not problems and not (isinstance(body, dict) and isinstance(body.get("batch"), list)):
            problems.append(
                Violation("invalid", "batch", "request body must be an object with a batch array")
            )
        if not problems:
            problems += violations(self._schema("batch"), {**body, "batch": []})
        if problems:
            return v2_error(400, problems), 0
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
            self._state.count_unmodelled()
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
            self._state.delete(person_id)
        elif not problems:
            self._state.count_unmodelled()
        return problems

    def _v2_identify(
        self, person_id: str, item: dict[str, Any], attributes: dict[str, Any]
    ) -> list[Violation]:
        problems = limits.check_attributes({k: v for k, v in attributes.items() if k != "_update"})
        with self._state.lock:
            problems += limits.check_profile_size(self._state.merged_attribute_count(person_id, attributes))
            if not problems:
                self._state.identify(
                    person_id,
                    attributes,
                    update_only=attributes.get("_update") is True,
                    timestamp=_integer_or_none(item.get("timestamp")),
                    source="v2 person identify",
                )
        return problems

    def _v2_event(self, person_id: str, item: dict[str, Any], attributes: dict[str, Any]) -> list[Violation]:
        name = item.get("name")
        if not isinstance(name, str):
            return [Violation("invalid", "name", "event name is required")]
        problems = limits.check_event(name, attributes, "name", "attributes")
        if not problems:
            self._state.add_event(
                person_id,
                name.strip(),
                attributes,
                event_id=_string_or_none(item.get("id")),
                timestamp=_integer_or_none(item.get("timestamp")),
            )
        return problems


def _integer_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _string_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
