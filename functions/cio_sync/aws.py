"""boto3 clients, created once per process (a Lambda execution environment) and reused.

boto3 honours AWS_ENDPOINT_URL itself, which is how the local stack points everything at moto server.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10)


@cache
def aws_client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG)
