"""Request-body validation against Customer.io's own Track API OpenAPI document.

The document is Customer.io's own, carried in the repository (`reference/`, whose README says where it
comes from and how to refresh it); it is read at start-up and each validator is compiled once. OpenAPI
3.1 schemas are JSON Schema 2020-12, so plain `jsonschema` with a `referencing` registry resolves every
`$ref` against the document itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from cio_sync_local.emulator.limits import Violation
from cio_sync_local.emulator.records import IDENTIFY_CONTROL_KEYS

OPENAPI_ENV = "CIO_OPENAPI_PATH"
BUNDLED_OPENAPI_PATH = Path(__file__).resolve().parent / "reference" / "journeys-track.openapi.json"
DOCUMENT_URI = "urn:customerio:journeys-track"


class OpenApiDocumentMissing(RuntimeError):
    """The emulator refuses to run unvalidated by accident: say where the document was expected."""


def default_openapi_path() -> Path:
    """`$CIO_OPENAPI_PATH` (an override, e.g. a newer copy under review), else the repository's own copy."""
    override = os.environ.get(OPENAPI_ENV)
    if override:
        return Path(override)
    return BUNDLED_OPENAPI_PATH


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def _request_schema_ref(path: str, method: str) -> str:
    return "#/" + _pointer("paths", path, method, "requestBody", "content", "application/json", "schema")


def _describe(error: ValidationError) -> str:
    """Say what is wrong from the schema's side only: the instance may hold personal data."""
    keyword = str(error.validator)
    expected = error.validator_value
    if keyword == "type":
        return f"must be of type {expected}"
    if keyword == "required":
        return "is required"
    if keyword in {"enum", "const"}:
        return f"must be one of {expected if keyword == 'enum' else [expected]}"
    if keyword in {"oneOf", "anyOf"}:
        return "matches none (or more than one) of the shapes the schema allows"
    if keyword == "additionalProperties":
        return "has properties the schema does not allow"
    return f"fails the schema's {keyword} rule"


def _field(error: ValidationError, root: str) -> str:
    """Dotted location of the problem; for a missing property, the property itself."""
    parts = [str(part) for part in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        parts += missing[:1]
    return ".".join([root, *parts] if root else parts) or "body"


@dataclass(frozen=True)
class TrackSchemas:
    """Compiled validators for every Track request body the emulator serves."""

    identify: Draft202012Validator
    track_event: Draft202012Validator
    entity: Draft202012Validator
    batch: Draft202012Validator
    batch_item: Draft202012Validator
    person_actions: Mapping[str, Draft202012Validator]
    """One validator per person `action`, honouring the document's `discriminator` (which JSON Schema
    ignores), so an invalid item is reported against the shape it claims rather than every alternative."""

    def for_operation(self, operation: Any, fallback: Draft202012Validator) -> Draft202012Validator:
        """The validator for a v2 operation: its person action's own schema when known, else `fallback`."""
        if isinstance(operation, dict) and operation.get("type") == "person":
            action = operation.get("action")
            if isinstance(action, str) and action in self.person_actions:
                return self.person_actions[action]
        return fallback

    @classmethod
    def load(cls, path: Path | None = None) -> TrackSchemas:
        location = path or default_openapi_path()
        try:
            document = json.loads(location.read_text(encoding="utf-8"))
        except FileNotFoundError as missing:
            raise OpenApiDocumentMissing(
                f"Customer.io's OpenAPI document is not at {location}; pass openapi_path / --openapi, set "
                f"{OPENAPI_ENV}, or start with validation disabled on purpose"
            ) from missing
        return cls.from_document(document)

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> TrackSchemas:
        registry: Registry[Any] = Registry().with_resource(
            DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
        )

        def compile_ref(fragment: str) -> Draft202012Validator:
            return Draft202012Validator({"$ref": DOCUMENT_URI + fragment}, registry=registry)

        batch_ref = _request_schema_ref("/api/v2/batch", "post")
        person_actions = {
            action: compile_ref(ref) for action, ref in _person_action_refs(document, batch_ref).items()
        }
        schemas = cls(
            identify=compile_ref(_request_schema_ref("/api/v1/customers/{identifier}", "put")),
            track_event=compile_ref(_request_schema_ref("/api/v1/customers/{identifier}/events", "post")),
            entity=compile_ref(_request_schema_ref("/api/v2/entity", "post")),
            batch=compile_ref(batch_ref),
            batch_item=compile_ref(batch_ref + "/properties/batch/items"),
            person_actions=person_actions,
        )
        for validator in (
            schemas.identify,
            schemas.track_event,
            schemas.entity,
            schemas.batch_item,
            *person_actions.values(),
        ):
            # Resolve each pointer once, so a wrong or changed document fails at start-up, not mid-test.
            list(validator.iter_errors({}))
        return schemas


def _resolve_pointer(document: Any, fragment: str) -> Any:
    node = document
    for raw in fragment.removeprefix("#/").split("/"):
        node = node[raw.replace("~1", "/").replace("~0", "~")]
    return node


def _person_action_refs(document: dict[str, Any], batch_ref: str) -> dict[str, str]:
    """Map each person `action` enum value to the `$ref` of its schema, read from the batch item `anyOf`."""
    items = _resolve_pointer(document, batch_ref + "/properties/batch/items")
    refs: dict[str, str] = {}
    for group in items.get("anyOf", []):
        if group.get("title") != "Person":
            continue
        for option in group.get("anyOf", []):
            ref = option.get("$ref")
            if not isinstance(ref, str):
                continue
            schema = _resolve_pointer(document, ref)
            for part in schema.get("allOf", [schema]):
                action = part.get("properties", {}).get("action", {})
                for value in action.get("enum", []):
                    refs.setdefault(value, ref)
    return refs


def violations(validator: Draft202012Validator | None, body: Any, root: str = "") -> list[Violation]:
    """Schema problems in `body` as `Violation`s (empty when valid or when validation is off)."""
    if validator is None:
        return []
    errors: Iterable[ValidationError] = validator.iter_errors(body)
    first = best_match(errors)
    if first is None:
        return []
    return [Violation("invalid", _field(first, root), _describe(first))]


def as_validated_v1_identify(body: dict[str, Any]) -> dict[str, Any]:
    """A v1 identify body minus the attributes set to null, for schema validation only.

    The exception to Customer.io's own document: its v1 identify schema allows string, integer and boolean
    values, yet the real service answers 200 to `null` and removes the attribute (recorded traffic), as its
    prose and the v2 API document. Control keys (`id`, `_update`, `_timestamp`, `cio_relationships`) are
    still validated as sent, so `"_timestamp": null` stays a 400.
    """
    return {k: v for k, v in body.items() if v is not None or k in IDENTIFY_CONTROL_KEYS}
