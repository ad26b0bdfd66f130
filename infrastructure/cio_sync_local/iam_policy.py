"""IAM identity-policy evaluation: may this role perform this action on this resource, in this context?

The rules are IAM's for identity-based policies (no resource policies, boundaries or SCPs are involved
here): an explicit Deny wins, otherwise any Allow allows, otherwise the request is implicitly denied. A
statement applies when its Action (or NotAction) matches the action, its Resource (or NotResource)
matches the resource, and every condition holds.

Why not moto's `moto.iam.access_control.IAMPolicy`: it evaluates StringEquals only (StringLike, the set
qualifiers and every other operator are ignored, so `ForAllValues:StringLike dynamodb:LeadingKeys` and
`StringLike s3:prefix` would always pass), treats a statement whose condition fails as a Deny instead of
not applying it, matches actions case-sensitively, and turns a pattern into a regular expression without
escaping it (`?` is not IAM's single-character wildcard there). The template relies on all of these.

Supported: Action/NotAction (case-insensitive, `*` and `?`), Resource/NotResource (`*` and `?`), and the
condition operators String*, Arn*, Numeric*, Bool and Null, with IfExists and the ForAllValues/ForAnyValue
set qualifiers. An operator outside that list raises `UnsupportedPolicy` rather than guessing.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

ContextValue = str | Sequence[str]


class UnsupportedPolicy(ValueError):
    """The policy uses something this evaluator does not implement; it never guesses."""


class Decision(enum.Enum):
    ALLOWED = "allowed"
    IMPLICIT_DENY = "implicit deny"
    EXPLICIT_DENY = "explicit deny"


@dataclass(frozen=True)
class AccessRequest:
    """One authorisation IAM makes for a call: a call may need several (a batch, a transaction)."""

    action: str  # service:Action
    resource: str  # an ARN, or "*" for actions without resource-level permissions
    context: Mapping[str, ContextValue] = field(default_factory=dict)  # condition keys (case-insensitive)


def evaluate(policies: Sequence[Mapping[str, Any]], request: AccessRequest) -> Decision:
    context = {key.lower(): value for key, value in request.context.items()}
    allowed = False
    for policy in policies:
        for statement in _statements(policy):
            if not _applies(statement, request, context):
                continue
            if statement.get("Effect") == "Deny":
                return Decision.EXPLICIT_DENY
            allowed = allowed or statement.get("Effect") == "Allow"
    return Decision.ALLOWED if allowed else Decision.IMPLICIT_DENY


def _statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = policy.get("Statement", [])
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _matches(statement: Mapping[str, Any], element: str, value: str, *, fold: bool = False) -> bool:
    """Action/Resource must match; NotAction/NotResource must not; a statement with neither matches."""
    if element in statement:
        return any(_wildcard(pattern, value, fold=fold) for pattern in _as_list(statement[element]))
    negated = f"Not{element}"
    if negated in statement:
        return not any(_wildcard(pattern, value, fold=fold) for pattern in _as_list(statement[negated]))
    return element == "Resource"  # identity policies always name actions; a resource may be implied


def _applies(
    statement: Mapping[str, Any], request: AccessRequest, context: Mapping[str, ContextValue]
) -> bool:
    return (
        _matches(statement, "Action", request.action, fold=True)
        and _matches(statement, "Resource", request.resource)
        and _conditions_hold(statement.get("Condition") or {}, context)
    )


@cache
def _pattern(pattern: str, fold: bool) -> re.Pattern[str]:
    expression = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile(f"^{expression}$", re.DOTALL | (re.IGNORECASE if fold else 0))


def _wildcard(pattern: Any, value: str, *, fold: bool = False) -> bool:
    return _pattern(str(pattern), fold).match(value) is not None


def _like(expected: str, actual: str) -> bool:
    return _wildcard(expected, actual)


# ---- conditions ----------------------------------------------------------------------------------------


def _conditions_hold(block: Mapping[str, Any], context: Mapping[str, ContextValue]) -> bool:
    """Every operator holds; within one, every key; for one key, any of the policy's values."""
    for operator, keys in block.items():
        for key, expected in keys.items():
            if not _condition(operator, key.lower(), [str(value) for value in _as_list(expected)], context):
                return False
    return True


def _condition(operator: str, key: str, expected: list[str], context: Mapping[str, ContextValue]) -> bool:
    qualifier, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists") and name != "IfExists"
    name = name.removesuffix("IfExists") if if_exists else name
    present = key in context
    if name == "Null":
        wants_absent = [value.lower() == "true" for value in expected]
        return any(wanted == (not present) for wanted in wants_absent)
    match, negated = _operator(name)
    values = _as_list(context[key]) if present else []
    if qualifier == "ForAllValues":
        # Vacuously true for a missing or empty key, as IAM has it.
        return all(_one(match, negated, expected, str(value)) for value in values)
    if qualifier == "ForAnyValue":
        return any(_one(match, negated, expected, str(value)) for value in values)
    if qualifier:
        raise UnsupportedPolicy(f"condition qualifier {qualifier} is not supported")
    if not present:
        return if_exists or negated
    return any(_one(match, negated, expected, str(value)) for value in values)


def _one(match: Callable[[str, str], bool], negated: bool, expected: list[str], actual: str) -> bool:
    if negated:
        return not any(match(value, actual) for value in expected)
    return any(match(value, actual) for value in expected)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (lambda expected, actual: expected == actual, False),
    "StringNotEquals": (lambda expected, actual: expected == actual, True),
    "StringEqualsIgnoreCase": (lambda expected, actual: expected.lower() == actual.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda expected, actual: expected.lower() == actual.lower(), True),
    "StringLike": (_like, False),
    "StringNotLike": (_like, True),
    "ArnEquals": (_like, False),
    "ArnLike": (_like, False),
    "ArnNotEquals": (_like, True),
    "ArnNotLike": (_like, True),
    "Bool": (lambda expected, actual: expected.lower() == actual.lower(), False),
    "NumericEquals": (lambda expected, actual: _number(actual) == _number(expected), False),
    "NumericNotEquals": (lambda expected, actual: _number(actual) == _number(expected), True),
    "NumericLessThan": (lambda expected, actual: _number(actual) < _number(expected), False),
    "NumericLessThanEquals": (lambda expected, actual: _number(actual) <= _number(expected), False),
    "NumericGreaterThan": (lambda expected, actual: _number(actual) > _number(expected), False),
    "NumericGreaterThanEquals": (lambda expected, actual: _number(actual) >= _number(expected), False),
}


def _operator(name: str) -> tuple[Callable[[str, str], bool], bool]:
    try:
        return _OPERATORS[name]
    except KeyError:
        raise UnsupportedPolicy(f"condition operator {name} is not supported") from None
