"""Reading a function's environment once, at cold start, into its settings type.

Every variable a function reads is named in template.yaml for that function (tests/infra checks both
ways). A missing or malformed variable fails the cold start with a SettingsError that names the variable,
never its value: a misconfigured function never half-runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TypeVar

T = TypeVar("T")


class SettingsError(ValueError):
    """A required setting is missing or malformed; names the variable, never its value."""


class Environment:
    """Typed reads of one function's variables (the mapping is os.environ, or a test's dict)."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values

    def _raw(self, name: str) -> str:
        return self._values.get(name, "").strip()

    def text(self, name: str) -> str:
        value = self._raw(name)
        if not value:
            raise SettingsError(f"environment variable {name} is required")
        return value

    def text_or(self, name: str, default: str) -> str:
        """An override that may be empty (template.yaml declares it empty on AWS)."""
        return self._raw(name) or default

    def number(self, name: str, default: float | None = None) -> float:
        raw = self._raw(name)
        if not raw:
            if default is None:
                raise SettingsError(f"environment variable {name} is required")
            return default
        try:
            value = float(raw)
        except ValueError as error:
            raise SettingsError(f"environment variable {name} must be a number") from error
        if not value > 0 or math.isinf(value):  # nan fails the first test
            raise SettingsError(f"environment variable {name} must be positive and finite")
        return value

    def count(self, name: str) -> int:
        value = self.number(name)
        if not value.is_integer():
            raise SettingsError(f"environment variable {name} must be a whole number")
        return int(value)

    def whole_seconds(self, name: str) -> int:
        """A number of seconds, zero allowed (it switches a feature off)."""
        raw = self.text(name)
        if not raw.isdigit():
            raise SettingsError(f"environment variable {name} must be a whole number of seconds")
        return int(raw)

    def flag(self, name: str) -> bool:
        lowered = self.text(name).lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"environment variable {name} must be true or false")

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name).lower()
        if value not in allowed:
            raise SettingsError(f"environment variable {name} must be one of {', '.join(allowed)}")
        return value

    def parsed(self, name: str, parse: Callable[[str], T]) -> T:
        """A variable that may be empty, through its own parser, whose ValueError then names the variable."""
        try:
            return parse(self._raw(name))
        except ValueError as error:
            raise SettingsError(f"environment variable {name}: {error}") from None
