"""`cio-sync members explain` against the running local stack, from a shell with no AWS credentials: both
sides, their difference, and the emulator's requests for the member, personal values masked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cio_sync.pipeline.messages import encode_intents
from cio_sync.sync.intents import SyncProfile
from cio_sync_local.stack import LocalStack

pytestmark = pytest.mark.integration

GRACE = "6a1d9f3b8c2e4d5f3a2b1c0d"
ADA = "5f0c8e2a9b1d4c3e2f1a0b9c"
NOBODY = "0123456789abcdef01234567"
EMAIL = "grace@example.org"


@dataclass
class Home:
    path: Path
    stack: LocalStack


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    path = tmp_path_factory.mktemp("explain")
    with LocalStack(aws_port=0, cio_port=0, state_dir=path / ".local") as stack:
        yield Home(path, stack)


def cio_sync(home: Home, *argv: str) -> subprocess.CompletedProcess[str]:
    bare = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join(sys.path),
        "HOME": str(home.path),
        "AWS_CONFIG_FILE": str(home.path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home.path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    result = subprocess.run(
        [sys.executable, "-m", "cio_sync_cli", *argv],
        capture_output=True,
        text=True,
        cwd=home.path,
        env=bare,
        timeout=180,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def explain(home: Home, *argv: str) -> dict[str, Any]:
    result = cio_sync(home, "members", "explain", *argv, "--json")
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def synced(home: Home, member_id: str) -> None:
    """The member exists and its profile was sent since any other test reset the emulator."""
    cio_sync(home, "members", "create", "--web", "--email", EMAIL, "--first-name", "Grace", "--id", member_id)
    run = cio_sync(
        home, "reconcile", "--member", member_id, "--run-id", f"explain-{uuid.uuid4().hex[:12]}", "--yes"
    )
    assert run.returncode == 0, run.stderr
    home.stack.drain(timeout=120)


def test_a_synced_member_is_in_step_and_its_requests_are_found(home: Home) -> None:
    synced(home, GRACE)
    report = explain(home, GRACE)
    assert report["verdict"] == "in step", report["diff"]
    assert report["customerio"]["email"] == f"<masked, {len(EMAIL)} chars>"
    assert report["item"]["first_name"] == "<masked, 5 chars>"
    assert EMAIL not in json.dumps(report)
    assert report["expected"]["eligible"] is True
    assert any(row["stored_at"] for row in report["diff"]), "the App API's timestamps are shown"
    requests = report["operations"]["emulator_requests"]
    operations = [operation for request in requests for operation in request["member_operations"] or []]
    assert any(operation.endswith(":person/identify") for operation in operations), requests
    assert report["operations"]["dead_letters"] == []
    shown = explain(home, GRACE, "--show-personal")
    assert shown["customerio"]["email"] == EMAIL


def test_a_profile_lost_in_customerio_is_named_as_the_difference(home: Home) -> None:
    synced(home, ADA)
    url = f"{home.stack.emulator_url}/_emulator/reset"
    reset = urllib.request.Request(url, method="POST")  # noqa: S310 - the emulator's 127.0.0.1 URL
    urllib.request.urlopen(reset, timeout=10).close()  # noqa: S310 - the emulator's 127.0.0.1 URL
    report = explain(home, ADA)
    assert report["verdict"] == "out of step: the rules say a profile, Customer.io holds none"
    assert report["customerio"] is None
    assert {row["status"] for row in report["diff"]} >= {"missing in Customer.io"}


def test_an_unknown_member_needs_no_profile_and_its_dead_letters_are_found(home: Home) -> None:
    body = encode_intents([SyncProfile("explain-test-intent", NOBODY)])
    home.stack.client("sqs").send_message(
        QueueUrl=home.stack.queue_url("TrackDeadLetterQueue"),
        MessageBody=body,
        MessageGroupId="explain",
        MessageDeduplicationId=uuid.uuid4().hex,
    )
    result = cio_sync(home, "members", "explain", NOBODY, "--json")
    assert result.returncode == 1, result.stderr  # as `members show` exits for an unknown id
    report = json.loads(result.stdout)
    assert report["verdict"] == "no member item: in step: no profile, as the rules say"
    assert report["item"] is None
    letters = report["operations"]["dead_letters"]
    assert [(letter["queue"], NOBODY in letter["summary"]) for letter in letters] == [("track", True)]
    assert report["operations"]["email_claims"] == []
