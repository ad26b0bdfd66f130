"""Powertools' idempotency utility without `import boto3`.

Python runs a package's __init__ before any of its modules, and the idempotency package's __init__ imports
Powertools' DynamoDB layer, which imports boto3. So the package is registered unexecuted: its modules
import as usual, and the first name read from the package that no module has set (`from
aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer` elsewhere in the process)
runs the real __init__ then. In a process that imported the package before, this changes nothing.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any, Final

PACKAGE: Final = "aws_lambda_powertools.utilities.idempotency"


def _register_unexecuted() -> ModuleType | None:
    """The package, registered without running its __init__ (None: it was imported already)."""
    if PACKAGE in sys.modules:
        return None
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.loader is None:
        raise ImportError(f"{PACKAGE} is not installed", name=PACKAGE)
    loader = spec.loader
    package = importlib.util.module_from_spec(spec)
    lock = threading.RLock()
    state = "pending"  # -> "running" (its __init__ executing) -> "done"

    def complete(name: str) -> Any:
        """PEP 562's module __getattr__: runs the real __init__ once, then reads the name.

        Other threads wait on the lock until __init__ has run (never reading a half-run package); a read
        from within __init__ itself finds the name missing, as in any module still executing; a failed
        __init__ is run again at the next read, as a failed import would be.
        """
        nonlocal state
        with lock:
            if state == "running":
                raise AttributeError(f"partially initialised module {PACKAGE} has no attribute {name!r}")
            if state == "pending":
                state = "running"
                try:
                    loader.exec_module(package)
                except BaseException:
                    state = "pending"
                    raise
                state = "done"
                del vars(package)["__getattr__"]
        return getattr(package, name)

    vars(package)["__getattr__"] = complete
    sys.modules[PACKAGE] = package
    parent, _, child = PACKAGE.rpartition(".")
    setattr(sys.modules[parent], child, package)
    return package


_unexecuted = _register_unexecuted()

from aws_lambda_powertools.utilities.idempotency.config import IdempotencyConfig  # noqa: E402
from aws_lambda_powertools.utilities.idempotency.exceptions import (  # noqa: E402
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.idempotency import idempotent_function  # noqa: E402
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer  # noqa: E402
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import (  # noqa: E402
    STATUS_CONSTANTS,
    DataRecord,
)

if _unexecuted is not None:
    # Powertools' own layers import this name from the package, which the real __init__ imports them from:
    # set now, importing one of their modules directly stays possible.
    vars(_unexecuted)["BasePersistenceLayer"] = BasePersistenceLayer

__all__ = [
    "STATUS_CONSTANTS",
    "BasePersistenceLayer",
    "DataRecord",
    "IdempotencyConfig",
    "IdempotencyItemAlreadyExistsError",
    "IdempotencyItemNotFoundError",
    "IdempotencyValidationError",
    "idempotent_function",
]
