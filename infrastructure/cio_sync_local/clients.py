"""boto3 clients for the local stack's moto server, shared per endpoint and region."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from cio_sync_local.description import StackContext

LOCAL_ACCESS_KEY = "local"  # moto accepts any key; these are not secrets
LOCAL_SECRET_KEY = "local"  # noqa: S105
LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account
LOCAL_REGION = "us-east-1"
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=30)


def aws_client(service: str, context: StackContext) -> Any:
    """A boto3 client for moto server; explicit endpoint, as Streams 404s without one on botocore 1.44+.

    Clients are shared per endpoint (boto3 clients are thread-safe; creating one costs tens of ms).
    """
    return endpoint_client(service, context.aws_endpoint, context.region)


@cache
def endpoint_client(service: str, endpoint: str, region: str = LOCAL_REGION) -> Any:
    return _session(region).client(service, endpoint_url=endpoint, config=_CLIENT_CONFIG)


@cache
def _session(region: str) -> boto3.session.Session:
    """One session for every client: its loader reads each service model and endpoint file once."""
    return boto3.session.Session(
        aws_access_key_id=LOCAL_ACCESS_KEY, aws_secret_access_key=LOCAL_SECRET_KEY, region_name=region
    )


# What the local stack reads and writes while it starts, and which of their paginators.
STARTUP_SERVICES = ("cloudformation", "s3", "sqs", "dynamodb", "iam", "lambda", "secretsmanager")
STARTUP_PAGINATORS = {
    "cloudformation": ("list_stack_resources",),
    "iam": ("list_roles",),
    "lambda": ("list_functions", "list_event_source_mappings"),
    "secretsmanager": ("list_secrets",),
}


def load_models(region: str = LOCAL_REGION) -> None:
    """Read the startup services' models into the shared session before any endpoint is known.

    Loading them takes about a second of CPU; done while moto server starts, the stack is ready sooner.
    """
    for service in STARTUP_SERVICES:
        client = _session(region).client(service, endpoint_url="http://127.0.0.1:9", config=_CLIENT_CONFIG)
        for operation in STARTUP_PAGINATORS.get(service, ()):
            client.get_paginator(operation)
