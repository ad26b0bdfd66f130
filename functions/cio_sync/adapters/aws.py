"""AWS clients for the adapters; each function's composition root makes one per service per process.

All from one botocore session per process: every new session parses botocore's endpoint file and each
service's model again, about half of the CPU a cold start spent making its clients.

botocore's own clients, not boto3's: the adapters use the low-level API only, and `import boto3` adds its
resource layer and s3transfer (15-20% of boto3's import time) to every cold start for nothing. botocore
honours AWS_ENDPOINT_URL itself (so does pynamodb, on botocore too), which is how the local stack points
everything at moto server: no setting carries an endpoint.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import botocore.session
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10)


_CREATING = threading.Lock()  # a botocore session is not thread-safe; the clients it makes are


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


def aws_client(service: str, **options: Any) -> Any:
    """options: create_client's own (endpoint_url, region_name, a config other than the default)."""
    options.setdefault("config", _CONFIG)
    with _CREATING:
        return _session().create_client(service, **options)
