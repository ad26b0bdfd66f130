"""Asking before a command changes or removes something: on a terminal, or `--yes` in a script."""

from __future__ import annotations

import sys
from collections.abc import Callable

from cio_sync_cli.errors import CommandError


def confirm(
    question: str,
    *,
    what: str,
    ask: Callable[[], str] | None = None,
    interactive: bool | None = None,
) -> None:
    """Ask on the terminal; without one, --yes is required (a script must say what it means).

    `what` names the change in the refusal ("redrive changes queues").
    """
    if interactive is None:
        interactive = sys.stdin.isatty()
    if not interactive:
        raise CommandError(f"{what}: pass --yes to confirm (no terminal to ask on)")
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = (ask or sys.stdin.readline)().strip().lower()
    if answer not in ("y", "yes"):
        raise CommandError("cancelled: nothing was changed")
