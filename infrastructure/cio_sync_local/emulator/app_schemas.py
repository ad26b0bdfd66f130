"""Request shapes for the App API endpoints the emulator serves, written from Customer.io's documentation.

Customer.io publishes an OpenAPI document for the App API too (https://docs.customer.io/files/journeys-app.json,
166 operations, about 4.6 MB), but it is not carried in this repository: the copy could not be obtained
whole where the emulator was built (see docs/emulator.md, "App API"). These small JSON Schemas (Draft
2020-12, checked with the same `jsonschema` as the Track document) transcribe the documented request
bodies of the five operations served here, each with the page it comes from. Replace them with the
published document when it is bundled.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

_STRING = {"type": "string"}
_BOOLEAN = {"type": "boolean"}
_INTEGER = {"type": "integer"}
_ATTACHMENTS_OR_HEADERS = {
    # Documented as a dictionary (name -> value) on the current page; older revisions showed a list of
    # such dictionaries. Both are accepted.
    "oneOf": [
        {"type": "object", "additionalProperties": _STRING},
        {"type": "array", "items": {"type": "object", "additionalProperties": _STRING}},
    ]
}

SEND_EMAIL: dict[str, Any] = {
    # https://docs.customer.io/integrations/api/app/tag/send-messages/sendEmail/ (optional fields; the
    # required ones and the identifiers are checked by the server with messages that name each rule).
    "type": "object",
    "properties": {
        "to": _STRING,
        "transactional_message_id": {"type": ["string", "integer"]},
        "message_data": {"type": "object"},
        "from": _STRING,
        "subject": _STRING,
        "body": _STRING,
        "plaintext_body": _STRING,
        "preheader": _STRING,
        "reply_to": _STRING,
        "bcc": _STRING,
        "fake_bcc": _BOOLEAN,
        "send_at": _INTEGER,
        "language": _STRING,
        "attachments": _ATTACHMENTS_OR_HEADERS,
        "headers": _ATTACHMENTS_OR_HEADERS,
        "disable_message_retention": _BOOLEAN,
        "send_to_unsubscribed": _BOOLEAN,
        "tracked": _BOOLEAN,
        "queue_draft": _BOOLEAN,
        "disable_css_preprocessing": _BOOLEAN,
        "auto_create": _BOOLEAN,
    },
}

_FILTER_NODE: dict[str, Any] = {
    # https://docs.customer.io/integrations/api/app/tag/customers/getpeoplefilter/: "Use and, or, and not
    # to combine segment and attribute conditions. The top-level object accepts one property; nest groups
    # for complex filters." Attribute conditions: `eq` (needs `value`) or `exists`; `inverse` negates.
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "additionalProperties": False,
    "properties": {
        "and": {"type": "array", "items": {"$ref": "#/$defs/node"}},
        "or": {"type": "array", "items": {"$ref": "#/$defs/node"}},
        "not": {"$ref": "#/$defs/node"},
        "segment": {"type": "object", "required": ["id"], "properties": {"id": _INTEGER}},
        "attribute": {
            "type": "object",
            "required": ["field", "operator"],
            "properties": {
                "field": {"type": "string", "minLength": 1},
                "operator": {"enum": ["eq", "exists"]},
                "value": {"type": ["string", "number", "boolean"]},
                "inverse": _BOOLEAN,
            },
            "if": {"properties": {"operator": {"const": "eq"}}},
            "then": {"required": ["value"]},
        },
    },
}

SEARCH_CUSTOMERS: dict[str, Any] = {
    "type": "object",
    "required": ["filter"],
    "properties": {"filter": {"$ref": "#/$defs/node"}},
    "$defs": {"node": _FILTER_NODE},
}

CUSTOMER_ATTRIBUTES: dict[str, Any] = {
    # https://docs.customer.io/integrations/api/app/tag/customers/getPeopleById/: "ids: array string[]
    # 1…100, required"; ids that do not exist are omitted from the answer.
    "type": "object",
    "required": ["ids"],
    "properties": {"ids": {"type": "array", "minItems": 1, "maxItems": 100, "items": _STRING}},
}

SEARCH_LIMIT_DEFAULT = 50
SEARCH_LIMIT_MAX = 1000
"""`limit` on POST /v1/customers: "max 1000" (documented); 50 when absent (the published schema's default)."""
ATTRIBUTES_ID_TYPES = ("id", "email", "phone", "cio_id")


def compiled(schema: dict[str, Any]) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)
