"""`pip install .` without extras, in a fresh virtualenv, gives a working operator CLI (issue 24).

Slow (a wheel built once, then the runtime's dependencies installed), so it runs in the infra phase; the
cheap proof on every unit run is tests/unit/cli/test_standalone.py (the extras' modules blocked).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.cfn import REPO

pytestmark = [pytest.mark.infra, pytest.mark.timeout(1800)]

MEMBER = "5f0c8e2a9b1d4c3e2f1a0b9c"
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "constraints.txt", "functions", "infrastructure")


def _run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=1200,
        check=False,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ of a new virtualenv holding the wheel of a copy of the sources (the build writes beside
    its sources, so never into the repository that parallel tests read)."""
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    venv = root / "venv"
    # No pip of its own (ensurepip costs ~7 s of CPU): this environment's pip, pinned by make, installs
    # into it (`--python`), as the venv's own would.
    created = _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=root)
    assert created.returncode == 0, created.stderr
    pip = (
        sys.executable,
        "-m",
        "pip",
        "--python",
        venv / "bin" / "python",
        "--disable-pip-version-check",
        "-q",
    )
    wheel = _run(*pip, "wheel", "--no-deps", "--wheel-dir", root / "dist", source, cwd=root)
    assert wheel.returncode == 0, wheel.stderr
    [built] = (root / "dist").glob("cio_sync-*.whl")
    install = _run(*pip, "install", "--constraint", source / "constraints.txt", built, cwd=root)
    assert install.returncode == 0, install.stderr
    return venv / "bin"


def _cli(bin_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    workdir = bin_dir.parent.parent  # no .local/stack.json here or above
    env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin", "HOME": str(workdir)}
    return _run(bin_dir / "cio-sync", *argv, cwd=workdir, env=env)


def test_the_install_holds_no_extra(installed: Path) -> None:
    for module in ("moto", "requests", "samtranslator", "jsonschema", "yaml"):
        found = _run(installed / "python", "-c", f"import {module}", cwd=installed)
        assert found.returncode == 1, module


def test_every_operator_command_loads_and_the_local_ones_name_their_extra(installed: Path) -> None:
    listed = _cli(installed, "--help")
    assert (listed.returncode, listed.stderr) == (0, "")
    assert "(not installed: pip install 'cio-sync[local]')" in listed.stdout
    for command in ("members", "imports", "reconcile", "dlq", "doctor"):
        helped = _cli(installed, command, "--help")
        assert (helped.returncode, helped.stderr) == (0, ""), command

    local = _cli(installed, "local", "up")
    assert local.returncode == 1
    assert local.stderr.startswith("cio-sync: `cio-sync local` needs the 'local' extra (no module ")


def test_a_command_with_no_target_says_how_to_name_one(installed: Path) -> None:
    result = _cli(installed, "--json", "members", "show", MEMBER)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("cio-sync: no member table: ")
    assert "Traceback" not in result.stderr
