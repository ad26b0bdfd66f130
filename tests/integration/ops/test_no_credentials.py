"""Every operator command against the running local stack, from a fresh machine's shell: no AWS
credentials, config or region anywhere, run from a directory below the one the stack runs in.

The CLI is a child process with an environment built from nothing (the AWS SDK's chain would otherwise
find this process's variables or a developer's ~/.aws), so a command that reaches for real credentials
fails here with NoCredentialsError, as it would for a new operator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cio_sync_local.stack import LocalStack

pytestmark = pytest.mark.integration

ADA = "5f0c8e2a9b1d4c3e2f1a0b9c"


@pytest.fixture(scope="module")
def stack_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("operator")
    with LocalStack(aws_port=0, cio_port=0, state_dir=home / ".local"):
        yield home


def cio_sync(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    workdir = home / "somewhere" / "below"
    workdir.mkdir(parents=True, exist_ok=True)
    bare = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join(sys.path),
        "HOME": str(home),  # no ~/.aws
        "AWS_CONFIG_FILE": str(home / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance role to fall back on
    }
    result = subprocess.run(
        [sys.executable, "-m", "cio_sync_cli", *argv],
        capture_output=True,
        text=True,
        cwd=workdir,
        env=bare,
        timeout=180,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_member_commands_work_without_credentials(stack_home: Path) -> None:
    created = cio_sync(
        stack_home, "--json", "members", "create", "--web", "--email", "ada@example.org", "--id", ADA
    )
    assert (created.returncode, json.loads(created.stdout)["id"]) == (0, ADA), created.stderr
    shown = cio_sync(stack_home, "members", "update", ADA, "--set", "first_name=Ada")
    assert (shown.returncode, json.loads(shown.stdout)["first_name"]) == (0, "Ada"), shown.stderr
    refused = cio_sync(stack_home, "members", "delete", ADA, "--purge")  # no terminal, no --yes
    assert (refused.returncode, refused.stdout) == (1, "")
    assert "pass --yes" in refused.stderr
    purged = cio_sync(stack_home, "members", "delete", ADA, "--purge", "--yes", "--json")
    assert (purged.returncode, json.loads(purged.stdout)) == (0, {"id": ADA, "removed": True}), purged.stderr


def test_reconcile_both_sides_works_without_credentials(stack_home: Path) -> None:
    result = cio_sync(stack_home, "reconcile", "--yes")
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)) >= {"members", "profiles"}


def test_dead_letters_imports_and_doctor_work_without_credentials(stack_home: Path) -> None:
    listed = cio_sync(stack_home, "dlq", "list", "--json")
    assert listed.returncode == 0, listed.stderr

    csv = stack_home / "mute.csv"
    csv.write_text(f"northstar_id\n{ADA}\n", encoding="utf-8")
    uploaded = cio_sync(stack_home, "imports", "upload", str(csv), "--dry-run", "--json")
    assert uploaded.returncode == 0, uploaded.stderr
    import_id = json.loads(uploaded.stdout)["import_id"]
    status = cio_sync(stack_home, "imports", "status", import_id, "--wait", "--timeout", "120")
    assert (status.returncode, json.loads(status.stdout)["status"]) == (0, "completed"), status.stderr
    rejected = cio_sync(stack_home, "imports", "rejected", import_id, "--json")
    assert rejected.returncode == 0, rejected.stderr

    doctor = cio_sync(stack_home, "doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
