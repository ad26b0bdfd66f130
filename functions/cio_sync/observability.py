"""Powertools Logger, Metrics and Tracer, set up once per process and shared by every function.

Log lines carry ids and counts only: never an email address, phone number or name.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "cio-sync"
NAMESPACE = "CioSync"

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=NAMESPACE)
tracer = Tracer(service=SERVICE)
