"""boto3 clients for the adapters; each function's composition root makes one per service per process.

boto3 honours AWS_ENDPOINT_URL itself (and so does pynamodb's botocore client), which is how the local
stack points everything at moto server: no setting carries an endpoint.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10)


def aws_client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG)
