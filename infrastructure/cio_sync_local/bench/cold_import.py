"""How long a function's cold start spends importing its handler, measured against `import boto3`.

Every handler needs boto3, so `import boto3` is the yardstick: the issue's budget is a handler import of
at most BUDGET_RATIO times it. Two measures, for two uses:
* `alternated_ratios` (make bench): whole fresh interpreters, each handler right after an `import boto3`
  of its own, the handler's time divided by that boto3's, median over the rounds; the README's figure.
* `paired_ratio` (make test): one interpreter imports boto3, then the handler, under `-X importtime`; the
  handler's own cumulative time is divided by boto3's from the same process, so machine speed and load
  cancel out, and the least of a few runs is checked with a margin that only a real regression (an SDK
  pulled back in, a heavy dependency) can cross.
`imported_modules` is exact and machine-independent: what a handler must never load.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from typing import Final

HANDLERS: Final = (
    "member_stream",
    "track",
    "email",
    "import_file",
    "import_chunk",
    "profile_sweep",
    "reporting_webhook",
    "consent",
)
BUDGET_RATIO: Final = 1.3
TIMEOUT_S: Final = 120


def handler_module(name: str) -> str:
    return f"cio_sync.handlers.{name}"


def environment() -> dict[str, str]:
    """What a Lambda execution environment has before the handler's own variables, and this process's
    PYTHONPATH, if any, so a worktree's code is what gets measured (as the local stack's workers run it)."""
    return {
        **{name: os.environ[name] for name in ("PYTHONPATH",) if name in os.environ},
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "cio-sync",
        "POWERTOOLS_METRICS_NAMESPACE": "CioSync",
    }


def _run(code: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter, a fixed program
        [sys.executable, *options, "-c", code],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=True,
        env=environment(),
    )


def import_seconds(module: str) -> float:
    """Wall time of `import module` in a fresh interpreter."""
    code = f"import time; s = time.perf_counter(); import {module}; print(time.perf_counter() - s)"
    return float(_run(code).stdout.strip().splitlines()[-1])


def alternated_ratios(modules: Sequence[str], runs: int) -> tuple[dict[str, float], dict[str, float]]:
    """Medians per module (boto3 included) and each module's median ratio to the `import boto3` run just
    before it: every handler import is paired with a boto3 import of its own, so a slow spell on a shared
    machine weighs on both sides of a ratio (with one boto3 per round, a spell during it or during one
    handler skewed the round's ratios: single runs of 11 rounds spread by up to 0.15)."""
    seconds: dict[str, list[float]] = {module: [] for module in ["boto3", *modules]}
    ratios: dict[str, list[float]] = {module: [] for module in modules}
    for _ in range(runs):
        for module in modules:
            boto3 = import_seconds("boto3")
            taken = import_seconds(module)
            seconds["boto3"].append(boto3)
            seconds[module].append(taken)
            ratios[module].append(taken / boto3)
    medians = {module: statistics.median(values) for module, values in seconds.items()}
    return medians, {module: statistics.median(values) for module, values in ratios.items()}


def imported_modules(module: str) -> set[str]:
    """Every module the import loads (deterministic: no clock involved)."""
    code = f"import sys; before = set(sys.modules); import {module}; print(*(set(sys.modules) - before))"
    return set(_run(code).stdout.split())


def _cumulative_us(stderr: str) -> dict[str, int]:
    """Top-level imports' cumulative microseconds from `python -X importtime` output."""
    found: dict[str, int] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        if not name.startswith("  "):  # one space of indentation: imported by the program itself
            found[name.strip()] = int(cumulative)
    return found


def paired_ratio(module: str) -> float:
    """(boto3 + what the handler adds) / boto3, both from one interpreter run with -X importtime."""
    times = _cumulative_us(_run(f"import boto3; import {module}", "-X", "importtime").stderr)
    boto3_us = times["boto3"]
    return (boto3_us + times[module]) / boto3_us


def least_paired_ratio(module: str, runs: int) -> float:
    """The smallest of `runs` paired ratios: load on a shared machine only ever adds time, mostly to the
    handler's side (imported second), so the least is the one nearest the code's own cost."""
    return min(paired_ratio(module) for _ in range(runs))
