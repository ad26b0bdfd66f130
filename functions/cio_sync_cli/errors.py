"""The one error type of the command line (a leaf module, so command modules never import each other)."""

from __future__ import annotations


class CommandError(Exception):
    """An expected problem (bad input, stack not running): printed as one line, exit status 1."""
