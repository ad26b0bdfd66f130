"""`sam validate --lint` and `sam build` succeed, and what they build is what Lambda will run.

The build runs on Python 3.11 but targets python3.13 on arm64 (infrastructure/build/Makefile): a wheel
or extension for the build machine's interpreter or processor would import-fail only on AWS.
"""

from __future__ import annotations

import importlib.util
import marshal
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.infra.cfn import REPO, Template, make_failure, properties, resources, run_make

pytestmark = [pytest.mark.infra, pytest.mark.timeout(1800)]

BUILD_MAKEFILE = REPO / "infrastructure" / "build" / "Makefile"
LAMBDA_REQUIREMENTS = REPO / "infrastructure" / "build" / "requirements-lambda.txt"
PURE_PYTHON_TAGS = {"py3-none-any", "py2-none-any", "py2.py3-none-any"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].strip()
        if not requirement:
            continue
        name, separator, version = requirement.partition("==")
        assert separator, f"{path.name}: {requirement!r} is not pinned with =="
        pins[_normalise(name)] = version
    return pins


def _makefile_variable(name: str) -> str:
    match = re.search(rf"^{name} := (.+)$", BUILD_MAKEFILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, f"{name} missing from {BUILD_MAKEFILE}"
    return match.group(1).strip()


def test_sam_validate_lint_passes() -> None:
    result = run_make("sam-validate")
    assert result.returncode == 0, make_failure("sam-validate", result)


def test_build_targets_match_the_template(transformed: Template) -> None:
    functions = resources(transformed, "AWS::Lambda::Function")
    assert set(_makefile_variable("FUNCTIONS").split()) == set(functions)
    for function in functions:
        metadata = transformed["Resources"][function]["Metadata"]
        assert metadata["BuildMethod"] == "makefile"
        assert metadata["ContextPath"] == "infrastructure/build"
        runtime = properties(transformed, function)["Runtime"]
        assert runtime == "python" + _makefile_variable("LAMBDA_PYTHON_VERSION")
        assert _makefile_variable("LAMBDA_ABI") == "cp" + runtime.removeprefix("python").replace(".", "")
        assert properties(transformed, function)["Architectures"] == ["arm64"]
        assert _makefile_variable("LAMBDA_PLATFORM").endswith("_aarch64")


def test_lambda_requirements_are_the_projects_runtime_pins() -> None:
    """What ships equals pyproject's dependencies at the versions the tests ran with (constraints.txt)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lambda_pins = _pins(LAMBDA_REQUIREMENTS)
    for dependency in project["dependencies"]:
        name, _, version = dependency.partition("==")
        assert lambda_pins.get(_normalise(name)) == version, f"{name} differs from pyproject.toml"
    constraints = _pins(REPO / "constraints.txt")
    for name, version in lambda_pins.items():
        assert constraints.get(name) == version, f"{name}=={version} differs from constraints.txt"


@pytest.mark.parametrize(
    ("requirements", "tool"),
    [("requirements-sam.txt", "aws-sam-cli==1.170.0"), ("requirements-checkov.txt", "checkov==3.3.30")],
)
def test_tool_venvs_are_fully_pinned(requirements: str, tool: str) -> None:
    pins = _pins(REPO / "infrastructure" / requirements)
    name, _, version = tool.partition("==")
    assert pins[name] == version
    if requirements == "requirements-sam.txt":
        assert pins["aws-sam-translator"] == "1.115.0"


def _artifacts(build_dir: Path, transformed: Template) -> list[Path]:
    functions = sorted(resources(transformed, "AWS::Lambda::Function"))
    folders = [build_dir / function for function in functions]
    for folder in folders:
        assert folder.is_dir(), f"sam build produced no artifact for {folder.name}"
    return folders


def test_artifacts_hold_no_extension_for_another_interpreter_or_processor(
    build_dir: Path, transformed: Template
) -> None:
    for artifact in _artifacts(build_dir, transformed):
        # Today every shipped distribution is pure Python; should a compiled one come back, it must match.
        extensions = [path for path in artifact.rglob("*") if path.suffix == ".so" or ".so." in path.name]
        for extension in extensions:
            assert extension.name.endswith(".cpython-313-aarch64-linux-gnu.so"), extension
        # Bytecode only for Lambda's interpreter (none when the build had no python3.13: it warns then).
        for bytecode in artifact.rglob("*.pyc"):
            assert ".cpython-313." in bytecode.name, f"{artifact.name}: {bytecode} is not for python3.13"


def test_artifacts_wheels_are_for_python313_arm64(build_dir: Path, transformed: Template) -> None:
    for artifact in _artifacts(build_dir, transformed):
        for wheel in artifact.glob("*.dist-info/WHEEL"):
            tags = {
                line.split(":", 1)[1].strip()
                for line in wheel.read_text().splitlines()
                if line.startswith("Tag:")
            }
            if tags <= PURE_PYTHON_TAGS:
                continue
            for tag in tags:
                interpreter, abi, platform = tag.split("-")
                assert (interpreter, abi) == ("cp313", "cp313"), f"{wheel.parent.name}: {tag}"
                assert re.fullmatch(r"manylinux[0-9_]+_aarch64", platform), f"{wheel.parent.name}: {tag}"


def test_artifacts_ship_exactly_the_pinned_distributions(build_dir: Path, transformed: Template) -> None:
    expected = _pins(LAMBDA_REQUIREMENTS)
    for artifact in _artifacts(build_dir, transformed):
        shipped = {}
        for dist_info in artifact.glob("*.dist-info"):
            name, version = dist_info.name.removesuffix(".dist-info").rsplit("-", 1)
            shipped[_normalise(name)] = version
        assert shipped == expected, artifact.name


def test_artifacts_carry_the_whole_package_source(build_dir: Path, transformed: Template) -> None:
    source = REPO / "functions" / "cio_sync"
    expected = {
        path.relative_to(source)
        for path in source.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    assert Path("__init__.py") in expected
    for artifact in _artifacts(build_dir, transformed):
        package = artifact / "cio_sync"
        shipped = {
            path.relative_to(package)
            for path in package.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        }
        assert shipped == expected, artifact.name


# Operator tooling, benchmark and local stack: none of it may ship (the build copies cio_sync alone).
NEVER_SHIPPED_PACKAGES = {"cio_sync_cli", "cio_sync_local", "tests", "bench"}
NEVER_SHIPPED_IN_RUNTIME = re.compile(r"(^|/)(cli|.*_cli|bench|ops|planning|track_v1)(\.py|/|$)")


def test_artifacts_hold_no_cli_bench_or_local_stack_module(build_dir: Path, transformed: Template) -> None:
    for artifact in _artifacts(build_dir, transformed):
        top_level = {path.name.removesuffix(".py") for path in artifact.iterdir()}
        assert not top_level & NEVER_SHIPPED_PACKAGES, artifact.name
        runtime = artifact / "cio_sync"
        for path in runtime.rglob("*"):
            relative = path.relative_to(runtime).as_posix()
            assert not NEVER_SHIPPED_IN_RUNTIME.search(relative), f"{artifact.name}: {relative}"
            if path.suffix == ".py":
                source = path.read_text(encoding="utf-8")
                assert "cio_sync_cli" not in source, f"{artifact.name}: {relative} names the CLI"
                assert "cio_sync_local" not in source, f"{artifact.name}: {relative} names the local stack"


def test_built_template_points_each_function_at_its_artifact(build_dir: Path, transformed: Template) -> None:
    built = (build_dir / "template.yaml").read_text(encoding="utf-8")
    for function in resources(transformed, "AWS::Lambda::Function"):
        assert re.search(rf"^\s+CodeUri: {function}$", built, re.MULTILINE), function


def _bytecode(folder: Path, python: str, version: str) -> subprocess.CompletedProcess[str]:
    """The build's bytecode step alone, on a folder laid out like /var/task."""
    return subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-f",
            str(BUILD_MAKEFILE),
            "bytecode",
            f"BYTECODE_DIR={folder}",
            f"BYTECODE_PYTHON={python}",
            f"LAMBDA_PYTHON_VERSION={version}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_bytecode_is_written_for_lambda_and_trusted_without_the_source_timestamp(tmp_path: Path) -> None:
    """The step the build runs with a python3.13, run here with this interpreter standing in for it."""
    shutil.copytree(
        REPO / "functions" / "cio_sync", tmp_path / "cio_sync", ignore=shutil.ignore_patterns("__pycache__")
    )
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    result = _bytecode(tmp_path, sys.executable, version)
    assert result.returncode == 0, result.stderr
    sources = list((tmp_path / "cio_sync").rglob("*.py"))
    assert len(sources) > 50
    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        assert cached.is_file(), f"no bytecode for {source.relative_to(tmp_path)}"
        header = cached.read_bytes()
        # PEP 552 flags: bit 0 hash-based, bit 1 check_source; 0b01 is unchecked-hash.
        assert int.from_bytes(header[4:8], "little") == 0b01, cached.name
        code = marshal.loads(header[16:])  # noqa: S302 - bytecode this test just compiled
        assert code.co_filename == "/var/task/" + source.relative_to(tmp_path).as_posix()


def test_bytecode_from_another_python_version_is_refused(tmp_path: Path) -> None:
    (tmp_path / "module.py").write_text("VALUE = 1\n")
    result = _bytecode(tmp_path, sys.executable, "3.13")
    assert result.returncode != 0
    assert "the functions run Python 3.13" in result.stderr
    assert not list(tmp_path.rglob("*.pyc"))


def test_without_a_lambda_python_the_build_says_it_ships_no_bytecode(tmp_path: Path) -> None:
    (tmp_path / "module.py").write_text("VALUE = 1\n")
    result = _bytecode(tmp_path, "", "3.13")
    assert result.returncode == 0, result.stderr
    assert "ships without bytecode" in result.stdout  # stdout: sam build shows only that of a build
    assert not list(tmp_path.rglob("*.pyc"))
