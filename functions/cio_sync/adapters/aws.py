"""AWS clients for the adapters; each function's composition root makes one per service per process.

botocore's own clients, not boto3's: the adapters use the low-level API only, and `import boto3` adds its
resource layer and s3transfer (15-20% of boto3's import time) to every cold start for nothing. botocore
honours AWS_ENDPOINT_URL itself (so does pynamodb, on botocore too), which is how the local stack points
everything at moto server: no setting carries an endpoint.
"""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10)


def aws_client(service: str) -> Any:
    return botocore.session.get_session().create_client(service, config=_CONFIG)
