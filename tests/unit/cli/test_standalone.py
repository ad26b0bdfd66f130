"""The operator CLI as `pip install .` leaves it: no local extra, output into a closed pipe.

Each test runs `python -m cio_sync_cli` in a child process (an import blocked or a pipe closed there
cannot leak into this one). The real install without extras, from a wheel, is tests/infra/test_install.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Final

# What only the `local` and `dev` extras install (pyproject.toml), and what they pull in.
EXTRAS_ONLY: Final = (
    "moto",
    "requests",
    "samtranslator",
    "jsonschema",
    "referencing",
    "yaml",
    "werkzeug",
    "flask",
    "pytest",
    "hypothesis",
)
# Run in the child: refuse every module of the extras, as an install without them would.
WITHOUT_EXTRAS: Final = f"""
import importlib.abc, runpy, sys

class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] in {EXTRAS_ONLY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

for name in [name for name in sys.modules if name.partition(".")[0] in {EXTRAS_ONLY!r}]:
    del sys.modules[name]
sys.meta_path.insert(0, Absent())
sys.argv[0] = "cio-sync"
runpy.run_module("cio_sync_cli", run_name="__main__")
"""


def run_without_extras(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS, *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "CIO_SYNC_STACK_FILE": ""},
        timeout=120,
        check=False,
    )


def test_without_the_local_extra_every_operator_command_loads(tmp_path: Path) -> None:
    listed = run_without_extras(tmp_path, "--help")
    assert (listed.returncode, listed.stderr) == (0, "")
    for command in ("members", "imports", "reconcile", "dlq", "doctor", "local", "emulator"):
        assert f"\n    {command}" in listed.stdout  # the main module imports every operator command


def test_without_the_local_extra_a_local_command_names_the_extra(tmp_path: Path) -> None:
    result = run_without_extras(tmp_path, "local", "up", "--no-demo")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("cio-sync: `cio-sync local` needs the 'local' extra")
    assert "pip install 'cio-sync[local]'" in result.stderr
    assert "Traceback" not in result.stderr


# A command that prints more than any pipe buffer holds (argparse's own --help swallows write errors).
PRINTS_A_LOT: Final = """
import sys
import cio_sync_cli.main as cli

def add(subparsers):
    subparsers.add_parser("lines").set_defaults(handler=lambda args: print("line\\n" * 50_000) or 0)

cli.plugin_commands = lambda points=None: [add]
sys.exit(cli.main(["lines"]))
"""


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`cio-sync ... | head`: the reader is gone before the output is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-c", PRINTS_A_LOT],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (141, "")
