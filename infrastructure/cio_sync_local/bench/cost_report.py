"""`python -m cio_sync_local.bench --cost-only`: dollars per million member changes, for an interactive and a
bulk mix, and the idle monthly floor of a deployed stack, priced from `bench/prices.json` (a few seconds of
one core; no stack). The table goes to docs/benchmarks.md.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Final

from cio_sync_local.bench.cost import idle_floor, load_prices, price
from cio_sync_local.bench.cost_usage import (
    ASSUMPTIONS,
    BULK_CHANGES,
    INTERACTIVE_CHANGES,
    function_memory,
    idle_stack,
    mix_usage,
)
from cio_sync_local.sam import load_template

PRICES_PATH: Final = Path(__file__).resolve().parents[3] / "bench" / "prices.json"


def cost_figures(prices_path: Path = PRICES_PATH) -> dict[str, Any]:
    prices = load_prices(prices_path)
    template = load_template()
    memory = function_memory(template)
    mixes: dict[str, Any] = {}
    # Powertools prints its metrics on stdout; the count captures them, stdout is for the table.
    with open(os.devnull, "w", encoding="utf-8") as null, contextlib.redirect_stdout(null):
        for name, bulk, changes in (
            ("interactive", False, INTERACTIVE_CHANGES),
            ("bulk", True, BULK_CHANGES),
        ):
            usage, counts = mix_usage(bulk, memory, changes)
            mixes[name] = {
                "usage_per_million": usage.__dict__,
                "counts": counts,
                "dollars": price(usage, prices),
            }
    stack = idle_stack(template)
    return {
        "prices": {"as_of": prices.as_of, "region": prices.region, "source": prices.source},
        "memory_mb": memory.__dict__,
        "assumptions": dict(ASSUMPTIONS),
        "mixes": mixes,
        "idle_stack": stack.__dict__,
        "idle_monthly": idle_floor(stack, prices),
    }


def format_cost(figures: dict[str, Any]) -> str:
    prices = figures["prices"]
    mixes = figures["mixes"]
    lines = [
        f"Cost per million member changes, {prices['region']} list prices as of {prices['as_of']} "
        "(bench/prices.json; no free tier)",
        "",
        "| line | interactive | bulk |",
        "| --- | --- | --- |",
    ]
    for line in mixes["interactive"]["dollars"]:
        cells = " | ".join(f"${mixes[mix]['dollars'][line]:,.2f}" for mix in ("interactive", "bulk"))
        lines.append(f"| {line} | {cells} |")
    for count, label in (
        ("lambda_requests", "Lambda invocations"),
        ("lambda_gb_s", "Lambda GB-seconds billed"),
        ("sqs_fifo_requests", "SQS requests"),
        ("dynamodb_write_units", "DynamoDB write units"),
        ("dynamodb_read_units", "DynamoDB read units"),
        ("customerio_requests", "Customer.io requests"),
        ("log_bytes", "log bytes"),
    ):
        cells = " | ".join(
            f"{mixes[mix]['usage_per_million'][count]:,.0f}" for mix in ("interactive", "bulk")
        )
        lines.append(f"| {label} | {cells} |")
    idle = figures["idle_monthly"]
    lines += ["", "| idle stack, a month | dollars |", "| --- | --- |"]
    lines += [f"| {line} | ${dollars:,.2f} |" for line, dollars in idle.items()]
    return "\n".join(lines)


def cost_only(as_json: bool = False) -> int:
    figures = cost_figures()
    print(json.dumps(figures, indent=2, sort_keys=True) if as_json else format_cost(figures))
    return 0
