"""Customer.io's documented size limits, as pure checks.

Each check returns the problems it found as `Violation`s naming the field, never the offending value:
values may be personal data, and these messages end up in clients' error text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_ID_BYTES = 150
MAX_ATTRIBUTE_NAME_BYTES = 150
MAX_ATTRIBUTE_VALUE_BYTES = 1000
MAX_ATTRIBUTES = 300
MAX_EVENT_NAME_BYTES = 100
MAX_EVENT_DATA_BYTES = 100_000
MAX_BATCH_BYTES = 500 * 1024
"""A v2 batch body must be *smaller* than 500 KB: a body of exactly this size is rejected."""
MAX_ITEM_BYTES = 32 * 1024
"""One v2 entity body or batch item may be at most 32 KB."""


@dataclass(frozen=True)
class Violation:
    reason: str
    field: str
    message: str


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


def json_size(value: Any) -> int:
    """Size of a value as sent compactly on the wire; used for values, event data and batch items."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def check_identifier(identifier: str, field: str) -> list[Violation]:
    if utf8_size(identifier) > MAX_ID_BYTES:
        return [Violation("too_long", field, f"identifier is longer than {MAX_ID_BYTES} bytes")]
    return []


def check_attributes(attributes: Mapping[str, Any], field: str = "attributes") -> list[Violation]:
    """Names up to 150 bytes, values up to 1000 bytes, at most 300 per call."""
    problems: list[Violation] = []
    if len(attributes) > MAX_ATTRIBUTES:
        problems.append(Violation("too_many", field, f"more than {MAX_ATTRIBUTES} attributes"))
    for name, value in attributes.items():
        if utf8_size(name) > MAX_ATTRIBUTE_NAME_BYTES:
            problems.append(
                Violation(
                    "too_long", field, f"an attribute name is longer than {MAX_ATTRIBUTE_NAME_BYTES} bytes"
                )
            )
            continue
        size = utf8_size(value) if isinstance(value, str) else json_size(value)
        if size > MAX_ATTRIBUTE_VALUE_BYTES:
            problems.append(
                Violation(
                    "too_long",
                    f"{field}.{name}",
                    f"attribute value is longer than {MAX_ATTRIBUTE_VALUE_BYTES} bytes",
                )
            )
    return problems


def check_profile_size(attribute_count: int, field: str = "attributes") -> list[Violation]:
    if attribute_count > MAX_ATTRIBUTES:
        return [Violation("too_many", field, f"the person would have more than {MAX_ATTRIBUTES} attributes")]
    return []


def check_event(name: str, data: Any, name_field: str, data_field: str) -> list[Violation]:
    problems: list[Violation] = []
    if utf8_size(name) > MAX_EVENT_NAME_BYTES:
        problems.append(
            Violation("too_long", name_field, f"event name is longer than {MAX_EVENT_NAME_BYTES} bytes")
        )
    if data is not None and json_size(data) > MAX_EVENT_DATA_BYTES:
        problems.append(
            Violation("too_large", data_field, f"event data is larger than {MAX_EVENT_DATA_BYTES} bytes")
        )
    return problems


def check_batch_body(body_size: int) -> list[Violation]:
    if body_size >= MAX_BATCH_BYTES:
        return [
            Violation("too_large", "batch", f"batch request must be smaller than {MAX_BATCH_BYTES} bytes")
        ]
    return []


def check_item_size(item_size: int, field: str) -> list[Violation]:
    if item_size > MAX_ITEM_BYTES:
        return [Violation("too_large", field, f"item is larger than {MAX_ITEM_BYTES} bytes")]
    return []
