"""Powertools' idempotency utility imported without boto3, and whole for whoever imports it otherwise.

Each case runs in a fresh interpreter: what is in sys.modules before the import is the point.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

LIGHT = "import sys; import cio_sync.adapters.powertools_idempotency as light; "
NO_BOTO3 = "assert 'boto3' not in sys.modules, 'boto3 loaded'; "

CASES = {
    "our names need no boto3": LIGHT + NO_BOTO3 + "light.idempotent_function, light.IdempotencyConfig",
    "the package's names run its __init__ when read": LIGHT
    + "from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent; "
    + "assert 'boto3' in sys.modules; "
    + "from aws_lambda_powertools.utilities import idempotency; "
    + "assert idempotency.BasePersistenceLayer is light.BasePersistenceLayer; "
    + "assert issubclass(DynamoDBPersistenceLayer, light.BasePersistenceLayer)",
    "Powertools' layer by its own module": LIGHT
    + "from aws_lambda_powertools.utilities.idempotency.persistence import dynamodb; "
    + "from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer; "
    + "assert DynamoDBPersistenceLayer is dynamodb.DynamoDBPersistenceLayer",
    "a package imported before is left as it is": "import sys; "
    + "from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer, idempotent_function; "
    + "import cio_sync.adapters.powertools_idempotency as light; "
    + "assert light.BasePersistenceLayer is BasePersistenceLayer; "
    + "assert light.idempotent_function is idempotent_function",
}


@pytest.mark.parametrize("code", CASES.values(), ids=CASES.keys())
def test_in_a_fresh_interpreter(code: str) -> None:
    run = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
