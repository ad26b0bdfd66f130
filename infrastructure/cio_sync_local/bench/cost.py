"""What running cio-sync costs, as dollars: the pricing arithmetic over counted usage, with no I/O.

Usage is counted per million member changes (`cost_usage`) and priced from the dated list-price table
`bench/prices.json`; the idle floor is what a deployed stack costs a month with no change at all (alarms,
the dashboard, secrets, KMS keys, the SQS mappings' empty receives; `IDLE_LEFT_OUT` names what it does not
price). Kept apart from the
counting so that the arithmetic is tested exactly and a new price table needs no new measure.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

MILLION: Final = 1_000_000
GB: Final = 1024**3  # CloudWatch Logs bills ingestion per GB of 2^30 bytes
SECONDS_PER_MONTH: Final = 30 * 24 * 3600
HOURS_PER_MONTH: Final = 730  # CloudWatch prorates a custom metric by the hour it is published in
# Lambda gives a function one vCPU at 1,769 MB and a share in proportion below it.
FULL_VCPU_MB: Final = 1769
# Lambda's SQS event source starts five pollers per mapping, each a 20 s long poll (AWS's documentation):
# idle, a mapping makes 15 empty receives a minute, whatever traffic the queue has ever seen.
SQS_POLLERS: Final = 5
SQS_LONG_POLL_S: Final = 20
SQS_REQUEST_CHUNK_BYTES: Final = 64 * 1024  # SQS bills each 64 KB of a request as one request
REQUIRED_PRICES: Final = (
    "lambda_requests_per_million",
    "lambda_arm64_gb_second",
    "sqs_standard_requests_per_million",
    "sqs_fifo_requests_per_million",
    "dynamodb_on_demand_write_units_per_million",
    "dynamodb_on_demand_read_units_per_million",
    "cloudwatch_logs_ingestion_per_gb",
    "xray_traces_recorded_per_million",
    "cloudwatch_alarm_per_month",
    "cloudwatch_dashboard_per_month",
    "cloudwatch_custom_metric_per_month",
    "secrets_manager_secret_per_month",
    "kms_key_per_month",
)


# AWS's own page or documentation states the price, or (where AWS renders it client-side) write-ups quote it.
CONFIRMED_BY: Final = ("aws", "third party")


class PriceTableError(ValueError):
    pass


@dataclass(frozen=True)
class Prices:
    as_of: str
    region: str
    source: str
    unit: Mapping[str, float]

    def __getitem__(self, name: str) -> float:
        return self.unit[name]


def load_prices(path: Path) -> Prices:
    """The price table, refused when it lacks its date, its source or a price (a figure must say whence)."""
    data: Any = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, Mapping) or not isinstance(data.get("prices"), Mapping):
        raise PriceTableError(f"{path}: expected an object with a `prices` object")
    for name in ("as_of", "region", "source"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise PriceTableError(f"{path}: `{name}` is required")
    missing = [name for name in REQUIRED_PRICES if not isinstance(data["prices"].get(name), int | float)]
    if missing:
        raise PriceTableError(f"{path}: no price for {', '.join(missing)}")
    checked: Any = data.get("checked")
    if not isinstance(checked, Mapping):
        checked = {}
    unchecked = [name for name in REQUIRED_PRICES if not _checked(checked.get(name))]
    if unchecked:
        raise PriceTableError(f"{path}: no date, confirmation and source URL for {', '.join(unchecked)}")
    return Prices(data["as_of"], data["region"], data["source"], dict(data["prices"]))


def _checked(entry: Any) -> bool:
    """Each price says when it was checked, whether AWS's own page or third parties confirm it, and where."""
    if not isinstance(entry, Mapping):
        return False
    urls = entry.get("urls")
    return (
        isinstance(entry.get("date"), str)
        and re.fullmatch(r"\d{4}-\d{2}-\d{2}", entry["date"]) is not None
        and entry.get("confirmed_by") in CONFIRMED_BY
        and isinstance(urls, list)
        and bool(urls)
        and all(isinstance(url, str) and url.startswith("https://") for url in urls)
    )


@dataclass(frozen=True)
class Usage:
    """What one mix uses, per million member changes."""

    lambda_requests: float = 0.0
    lambda_gb_s: float = 0.0
    sqs_standard_requests: float = 0.0
    sqs_fifo_requests: float = 0.0
    dynamodb_write_units: float = 0.0
    dynamodb_read_units: float = 0.0
    log_bytes: float = 0.0
    xray_traces: float = 0.0
    custom_metric_hours: float = 0.0  # each metric (name and dimensions) times the hours it is published
    customerio_requests: float = 0.0  # counted, not priced: Customer.io bills by plan, not per request

    def scaled(self, factor: float) -> Usage:
        return Usage(**{name: value * factor for name, value in self.__dict__.items()})


def billed_gb_s(invocations: int, billed_ms_each: float, memory_mb: int) -> float:
    """Lambda bills each invocation's duration rounded up to the millisecond, times its memory in GB."""
    return invocations * math.ceil(billed_ms_each) / 1000 * memory_mb / 1024


def wall_ms(cpu_s: float, wait_ms: float, memory_mb: int) -> float:
    """An invocation's duration: its CPU on Lambda's share of a vCPU at this memory, plus its waits."""
    return cpu_s * 1000 * max(1.0, FULL_VCPU_MB / memory_mb) + wait_ms


def traced(invocations: float, duration_s: float, reservoir_per_s: float, sampled: float) -> float:
    """Traces X-Ray records of one function's evenly spread invocations under its default rule: the
    reservoir (the first requests of each second) and the sampled share of the rest. At a trickle of at
    most one invocation a second that is every invocation."""
    reservoir = min(invocations, reservoir_per_s * duration_s)
    return reservoir + sampled * (invocations - reservoir)


def sqs_requests(messages: int, message_bytes: int, per_request: int = 10) -> int:
    """Batched requests for `messages` totalling `message_bytes`: each batch of `per_request`, and at least
    one request per 64 KB chunk of payload."""
    if messages == 0:
        return 0
    return max(math.ceil(messages / per_request), math.ceil(message_bytes / SQS_REQUEST_CHUNK_BYTES))


def price(usage: Usage, prices: Prices) -> dict[str, float]:
    """Dollars per line, and their total; Customer.io requests are not priced (its plan is)."""
    lines = {
        "lambda requests": usage.lambda_requests / MILLION * prices["lambda_requests_per_million"],
        "lambda duration": usage.lambda_gb_s * prices["lambda_arm64_gb_second"],
        "sqs requests": usage.sqs_standard_requests / MILLION * prices["sqs_standard_requests_per_million"]
        + usage.sqs_fifo_requests / MILLION * prices["sqs_fifo_requests_per_million"],
        "dynamodb": usage.dynamodb_write_units
        / MILLION
        * prices["dynamodb_on_demand_write_units_per_million"]
        + usage.dynamodb_read_units / MILLION * prices["dynamodb_on_demand_read_units_per_million"],
        "logs ingested": usage.log_bytes / GB * prices["cloudwatch_logs_ingestion_per_gb"],
        "x-ray traces": usage.xray_traces / MILLION * prices["xray_traces_recorded_per_million"],
        "custom metrics": usage.custom_metric_hours
        / HOURS_PER_MONTH
        * prices["cloudwatch_custom_metric_per_month"],
    }
    lines["total"] = sum(lines.values())
    return lines


@dataclass(frozen=True)
class IdleStack:
    """What a deployed stack holds that costs money with no traffic (counted from template.yaml)."""

    alarms: int
    dashboards: int
    secrets: int
    kms_keys: int
    sqs_mappings_standard: int
    sqs_mappings_fifo: int


def empty_receives_per_month(mappings: int) -> float:
    return mappings * SQS_POLLERS * SECONDS_PER_MONTH / SQS_LONG_POLL_S


def idle_floor(stack: IdleStack, prices: Prices) -> dict[str, float]:
    """Dollars a month with no member change at all; `IDLE_LEFT_OUT` is what this does not price."""
    standard = empty_receives_per_month(stack.sqs_mappings_standard)
    fifo = empty_receives_per_month(stack.sqs_mappings_fifo)
    lines = {
        "alarms": stack.alarms * prices["cloudwatch_alarm_per_month"],
        "dashboards": stack.dashboards * prices["cloudwatch_dashboard_per_month"],
        "secrets": stack.secrets * prices["secrets_manager_secret_per_month"],
        "kms keys": stack.kms_keys * prices["kms_key_per_month"],
        "sqs empty receives": standard / MILLION * prices["sqs_standard_requests_per_million"]
        + fifo / MILLION * prices["sqs_fifo_requests_per_million"],
    }
    lines["total"] = sum(lines.values())
    return lines


# What the idle floor leaves out, each growing with data or use rather than with the stack itself.
IDLE_LEFT_OUT: Final = (
    "DynamoDB storage and point-in-time-recovery backup of the member and idempotency tables "
    "(per GB-month: they grow with the member count)",
    "CloudWatch Logs storage of what each log group's retention keeps (per GB-month of logs ingested)",
    "custom metrics: billed per hour a metric is published, so idle they cost nothing (the mixes price "
    "them); a scheduled sweep publishes its few metrics for an hour a run",
    "the sweep's, email, import and webhook functions' own runs, KMS and Secrets Manager API requests, "
    "data transfer",
)
