"""`python -m cio_sync_local.bench --cost-only`: dollars per million member changes, for an interactive and a
bulk mix, and the idle monthly floor of a deployed stack, priced from `bench/prices.json` (a few seconds of
one core; no stack). The table goes to docs/benchmarks.md.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from cio_sync_local.bench.cost import IDLE_LEFT_OUT, idle_floor, load_prices, price
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
        "idle_left_out": list(IDLE_LEFT_OUT),
    }


def _total_last(lines: Mapping[str, Any]) -> list[str]:
    """The lines in their order, `total` last (results.json is written with its keys sorted)."""
    return [line for line in lines if line != "total"] + ["total"]


def format_cost(figures: dict[str, Any]) -> str:
    prices = figures["prices"]
    mixes = figures["mixes"]
    assumed = figures["assumptions"]
    lines = [
        f"Cost per million member changes, {prices['region']} list prices as of {prices['as_of']} "
        "(bench/prices.json; no free tier)",
        "",
        "| line | interactive | bulk |",
        "| --- | --- | --- |",
    ]
    for line in _total_last(mixes["interactive"]["dollars"]):
        cells = " | ".join(f"${mixes[mix]['dollars'][line]:,.2f}" for mix in ("interactive", "bulk"))
        lines.append(f"| {line} | {cells} |")
    lines += ["", "| usage per million changes | interactive | bulk |", "| --- | --- | --- |"]
    for count, label in (
        ("lambda_requests", "Lambda invocations"),
        ("lambda_gb_s", "Lambda GB-seconds billed"),
        ("sqs_fifo_requests", "SQS requests"),
        ("dynamodb_write_units", "DynamoDB write units"),
        ("dynamodb_read_units", "DynamoDB read units"),
        ("customerio_requests", "Customer.io requests"),
        ("log_bytes", "log bytes"),
        ("xray_traces", "X-Ray traces"),
        ("custom_metric_hours", "custom metric-hours"),
    ):
        cells = " | ".join(
            f"{mixes[mix]['usage_per_million'].get(count, 0):,.0f}" for mix in ("interactive", "bulk")
        )
        lines.append(f"| {label} | {cells} |")
    lines += [
        "",
        f"Assumed: {assumed['interactive_changes_per_s']:g} change/s interactive, "
        f"{assumed['bulk_changes_per_s']:,.0f}/s bulk; X-Ray traces {assumed['xray_reservoir_per_s']:g} "
        f"invocation a second of each function and {assumed['xray_sampled']:.0%} of the rest; each custom "
        "metric the two functions print is billed for the hours the mix runs.",
    ]
    idle = figures["idle_monthly"]
    lines += ["", "| idle stack, a month | dollars |", "| --- | --- |"]
    lines += [f"| {line} | ${idle[line]:,.2f} |" for line in _total_last(idle)]
    lines += ["", "The idle floor leaves out:"]
    lines += [f"- {item}" for item in figures.get("idle_left_out", [])]
    return "\n".join(lines)


def cost_only(as_json: bool = False) -> int:
    figures = cost_figures()
    print(json.dumps(figures, indent=2, sort_keys=True) if as_json else format_cost(figures))
    return 0
