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
    "threads reading the package at once all wait for its __init__": LIGHT
    + """
import threading
from aws_lambda_powertools.utilities import idempotency
start = threading.Barrier(4)
read = []
def reader():
    start.wait()
    read.append(idempotency.DynamoDBPersistenceLayer)
threads = [threading.Thread(target=reader) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
assert len(read) == 4 and len(set(read)) == 1, read
""",
    "a failed __init__ is tried again at the next read": LIGHT
    + """
from aws_lambda_powertools.utilities import idempotency
sys.modules["boto3"] = None  # an import of boto3 fails
try:
    idempotency.DynamoDBPersistenceLayer
    raise AssertionError("read without boto3")
except ImportError as failed:
    assert "boto3" in str(failed), failed
del sys.modules["boto3"]
sys.modules.pop("aws_lambda_powertools.utilities.idempotency.persistence.dynamodb", None)
assert idempotency.DynamoDBPersistenceLayer.__name__ == "DynamoDBPersistenceLayer"
""",
}


@pytest.mark.parametrize("code", CASES.values(), ids=CASES.keys())
def test_in_a_fresh_interpreter(code: str) -> None:
    run = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
