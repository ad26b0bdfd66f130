"""Where the running local stack's `.local/stack.json` is, and its one reader (the CLI's and local tools').

`cio-sync local up` writes the file in the directory it runs in; an operator's command may run from any
directory below it, so the file is found by walking up from the working directory, as git finds `.git`.
CIO_SYNC_STACK_FILE names it outright (a stack started elsewhere); a named file that is missing is an
error, never a silent fallback to AWS.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from cio_sync_cli.errors import CommandError

STACK_FILE: Final = Path(".local") / "stack.json"
STACK_FILE_VARIABLE: Final = "CIO_SYNC_STACK_FILE"


def find_stack_file(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path | None:
    """The stack file CIO_SYNC_STACK_FILE names, else the nearest `.local/stack.json` at or above `cwd`."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    named = env.get(STACK_FILE_VARIABLE)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise CommandError(f"{STACK_FILE_VARIABLE} names {path}, which does not exist")
        return path
    start = (cwd or Path.cwd()).resolve()
    for directory in (start, *start.parents):
        candidate = directory / STACK_FILE
        if candidate.is_file():
            return candidate
    return None


def read_stack_file(path: Path | None = None) -> dict[str, Any] | None:
    """What a running `cio-sync local up` wrote (`path`, else the one found), or None when none runs."""
    if path is None:
        path = find_stack_file()
        if path is None:
            return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise CommandError(
            f"{path} is unreadable ({type(error).__name__}): restart the local stack"
        ) from None
    return data if isinstance(data, dict) else None
