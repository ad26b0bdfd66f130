"""Cold imports of a built Lambda artifact, under the Lambda's own Python, with and without its bytecode.

`python -m cio_sync_local.bench.artifact_imports --python /path/to/python3.13 .aws-sam/build/EmailFunction`

The artifact is imported as Lambda imports /var/task: first on sys.path, nothing written (`-B`; the
folder is read-only there), Python isolated from this machine's site-packages and variables (`-I`). "sources
only" is a copy of the artifact without its __pycache__ folders: what a build without a Python 3.13 ships,
compiled at every cold start. Each handler import is paired with an `import boto3` from the same artifact
run just before it; medians over the rounds. Needs a built artifact (`make sam-build`, with
BYTECODE_PYTHON for the bytecode); pure-Python wheels, so an arm64 artifact imports on any machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cio_sync_local.bench.cold_import import HANDLERS, TIMEOUT_S, environment, handler_module


def import_seconds(python: str, artifact: Path, module: str) -> float:
    code = (
        f"import sys; sys.path.insert(0, {str(artifact)!r}); import time; s = time.perf_counter(); "
        f"import {module}; print(time.perf_counter() - s)"
    )
    ran = subprocess.run(  # noqa: S603 - the given interpreter, a fixed program
        [python, "-I", "-B", "-c", code],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=True,
        env=environment(),
    )
    return float(ran.stdout.strip().splitlines()[-1])


def sources_only(artifact: Path, into: Path) -> Path:
    """A copy of the artifact without bytecode."""
    copy = into / artifact.name
    shutil.copytree(artifact, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return copy


def measure(python: str, artifact: Path, rounds: int) -> list[tuple[str, float, float, float]]:
    """Per handler: median ms with bytecode, median ms from sources only, median ratio to boto3."""
    with tempfile.TemporaryDirectory() as scratch:
        bare = sources_only(artifact, Path(scratch))
        with_bytecode: dict[str, list[float]] = {name: [] for name in HANDLERS}
        without: dict[str, list[float]] = {name: [] for name in HANDLERS}
        ratios: dict[str, list[float]] = {name: [] for name in HANDLERS}
        for _ in range(rounds):
            for name in HANDLERS:
                boto3 = import_seconds(python, artifact, "boto3")
                taken = import_seconds(python, artifact, handler_module(name))
                with_bytecode[name].append(taken)
                ratios[name].append(taken / boto3)
                without[name].append(import_seconds(python, bare, handler_module(name)))
    return [
        (
            name,
            statistics.median(with_bytecode[name]) * 1000,
            statistics.median(without[name]) * 1000,
            statistics.median(ratios[name]),
        )
        for name in HANDLERS
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path, help="a function's folder under .aws-sam/build")
    parser.add_argument("--python", required=True, help="the Lambda runtime's Python (python3.13)")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    if not list(args.artifact.rglob("*.pyc")):
        parser.error(f"{args.artifact} holds no bytecode: build with BYTECODE_PYTHON set (docs/deploy.md)")
    print("| handler | with bytecode | sources only | ratio to import boto3 (with bytecode) |")
    print("| --- | --- | --- | --- |")
    for name, with_ms, without_ms, ratio in measure(args.python, args.artifact, args.rounds):
        print(f"| {name} | {with_ms:.0f} ms | {without_ms:.0f} ms | {ratio:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
