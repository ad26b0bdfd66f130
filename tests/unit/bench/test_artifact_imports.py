"""The artifact import measure on a tiny artifact: sources-only copies carry no bytecode, and every
handler is timed both ways (the real run needs a built artifact and Python 3.13: docs/deploy.md)."""

from __future__ import annotations

import compileall
import sys
from pathlib import Path

import pytest

from cio_sync_local.bench import artifact_imports
from cio_sync_local.bench.cold_import import HANDLERS


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    folder = tmp_path / "Function"
    handlers = folder / "cio_sync" / "handlers"
    handlers.mkdir(parents=True)
    (folder / "boto3.py").write_text("LOADED = True\n")
    (folder / "cio_sync" / "__init__.py").write_text("")
    (handlers / "__init__.py").write_text("")
    for name in HANDLERS:
        (handlers / f"{name}.py").write_text("import boto3\n")
    assert compileall.compile_dir(folder, quiet=1)
    return folder


def test_the_sources_only_copy_has_no_bytecode_and_the_original_keeps_it(
    artifact: Path, tmp_path: Path
) -> None:
    copy = artifact_imports.sources_only(artifact, tmp_path / "copy")
    assert (copy / "cio_sync" / "handlers" / "email.py").is_file()
    assert not list(copy.rglob("*.pyc"))
    assert list(artifact.rglob("*.pyc"))


def test_every_handler_is_measured_both_ways(artifact: Path) -> None:
    rows = artifact_imports.measure(sys.executable, artifact, rounds=1)
    assert [row[0] for row in rows] == list(HANDLERS)
    assert all(with_ms > 0 and without_ms > 0 and ratio > 0 for _, with_ms, without_ms, ratio in rows)


def test_an_artifact_without_bytecode_is_refused(tmp_path: Path) -> None:
    (tmp_path / "boto3.py").write_text("")
    with pytest.raises(SystemExit):
        artifact_imports.main([str(tmp_path), "--python", sys.executable])
