"""Powertools Logger and Metrics, set up once per process and shared by every function.

Log lines carry ids and counts only: never an email address, phone number or name.

No Powertools Tracer: the functions run with Lambda's active tracing (template.yaml `Tracing: Active`),
which records every invocation's segments (initialisation, invocation, overhead) without the X-Ray SDK
in the process. Importing that SDK cost ~230 ms of every cold start, more than boto3 itself, for
subsegments of calls that the metrics (CustomerIoRequests, ...) and logs already account for;
docs/architecture.md ("Decisions") has the measurement.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics

# The stack's name on AWS (template.yaml sets it): the metrics' `service` dimension, which the stack's
# alarms and dashboard read, so two stacks in one account never mix their metrics.
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "cio-sync"
NAMESPACE = "CioSync"

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=NAMESPACE)
