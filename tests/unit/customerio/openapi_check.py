"""Checks a request against Customer.io's own Track OpenAPI document, the authority for request shapes.

The document is the repository's copy that the emulator validates against (one file, one path).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from cio_sync_local.emulator.openapi import BUNDLED_OPENAPI_PATH, as_validated_v1_identify

OPENAPI_PATH = BUNDLED_OPENAPI_PATH
_BASE_URI = "urn:customerio:journeys-track"


@dataclass(frozen=True)
class _Route:
    template: str
    pattern: re.Pattern[str]


@cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    return document


@cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(_document(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(_BASE_URI, resource)
    return registry


@cache
def _validator(pointer: str) -> Draft202012Validator:
    """A compiled validator for the schema at a JSON pointer, with `$ref`s resolved in the document."""
    return Draft202012Validator({"$ref": f"{_BASE_URI}#{pointer}"}, registry=_registry())


@cache
def _routes() -> tuple[_Route, ...]:
    routes = []
    for template in _document()["paths"]:
        regex = re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template))
        routes.append(_Route(template, re.compile(f"{regex}$")))
    return tuple(routes)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = _document()
        for token in node["$ref"].removeprefix("#/").split("/"):
            target = target[token.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _check_path_parameter(
    template: str, operation: dict[str, Any], path_item: dict[str, Any], value: str
) -> None:
    parameters = [_resolve(p) for p in [*path_item.get("parameters", []), *operation.get("parameters", [])]]
    path_parameters = [p for p in parameters if p.get("in") == "path"]
    assert path_parameters, f"{template} declares no path parameter"
    schema = path_parameters[0]["schema"]
    # The identifier's oneOf lists id, email and cio_id, all plain strings that overlap; Customer.io tells
    # them apart by shape, so the honest check is "matches at least one alternative".
    alternatives = schema.get("oneOf", [schema])
    assert value, f"{template}: empty path parameter"
    assert any(Draft202012Validator(alternative).is_valid(value) for alternative in alternatives), (
        f"{template}: path parameter does not match its schema"
    )


def check_track_request(method: str, path: str, body: bytes | None) -> None:
    """Fail (AssertionError) unless method, path and JSON body are what the document allows."""
    for route in _routes():
        match = route.pattern.match(path)
        if match:
            break
    else:
        raise AssertionError(f"{method} {path} is not a Track API path in the OpenAPI document")
    path_item = _document()["paths"][route.template]
    operation = path_item.get(method.lower())
    assert operation is not None, f"{method} is not allowed on {route.template}"
    for value in match.groups():
        _check_path_parameter(route.template, operation, path_item, unquote(value))
    if "requestBody" not in operation:
        assert not body, f"{method} {route.template} takes no body"
        return
    assert body, f"{method} {route.template} needs a JSON body"
    pointer = "/".join(
        [
            "",
            "paths",
            _escape(route.template),
            method.lower(),
            "requestBody",
            "content",
            "application~1json",
            "schema",
        ]
    )
    document = json.loads(body)
    if route.template == "/api/v1/customers/{identifier}" and method == "PUT" and isinstance(document, dict):
        # The emulator's one documented exception: the real v1 identify accepts null (it removes).
        document = as_validated_v1_identify(document)
    errors = sorted(_validator(pointer).iter_errors(document), key=lambda error: list(error.path))
    assert not errors, f"{method} {route.template} body breaks the OpenAPI document: " + "; ".join(
        f"{list(error.path)}: {error.message[:200]}" for error in errors[:5]
    )
