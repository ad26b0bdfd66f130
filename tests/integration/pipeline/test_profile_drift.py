"""The sweep's attribute check on the local stack, in a workspace that identifies people by email too.

There an identify whose email belongs to someone else answers 200 and changes nothing (an attribute update
failure in the person's activity): the profile stays stale, and identifying it again cannot help. The
sweep re-identifies the profiles an identify can fix and names the others.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cio_sync.members.contract import MemberItem
from cio_sync_cli.main import main
from cio_sync_local.stack import LocalStack

from .conftest import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def unique_email() -> Iterator[Pipeline]:
    options = {"email_identifier": "unique"}
    with LocalStack(aws_port=0, cio_port=0, visibility_timeout_s=2, emulator_options=options) as stack:
        yield Pipeline(stack)


def web(pipeline: Pipeline) -> MemberItem:
    email = f"web-{uuid.uuid4().hex[:10]}@example.org"
    return pipeline.repo.create_web_signup({"email": email, "first_name": "Ada"})


def reconcile(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main(["reconcile", *argv, "--yes"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out.strip().splitlines()[-1]), captured.err


def test_drift_is_reidentified_and_an_email_collision_is_named(
    unique_email: Pipeline, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    pipeline = unique_email
    holder, collides, stale = web(pipeline), web(pipeline), web(pipeline)
    pipeline.drain()
    # `collides` takes `holder`'s address: the identify answers 200 and Customer.io changes nothing.
    pipeline.repo.update(collides["id"], {"email": holder["email"]})
    pipeline.drain()
    failures = [
        entry
        for entry in pipeline.emulator(f"activity?person_id={collides['id']}")
        if entry["type"] == "attribute_update_failure"
    ]
    assert failures
    assert failures[-1]["conflicting_person_id"] == holder["id"]
    # `stale` drifted some other way (a lost identify): its profile holds an old first name.
    assert pipeline.stack.emulator is not None
    pipeline.stack.emulator.state.seed([(stale["id"], {"first_name": "Old name"})])

    code, dry, _ = reconcile(capsys, "--profiles-only", "--check-attributes", "--dry-run")
    assert code == 0
    assert dry["profiles"]["email_identifier"] is True
    assert dry["profiles"]["fixed"] == {"drifted": 1}
    assert dry["profiles"]["examples"]["drifted"] == [stale["id"]]
    assert dry["profiles"]["skipped"] == {"email_collision": 1}
    assert dry["profiles"]["examples"]["email_collision"] == [collides["id"]]

    code, summary, err = reconcile(capsys, "--profiles-only", "--check-attributes")
    assert code == 0
    assert summary["profiles"]["fixed"] == {"drifted": 1}
    assert summary["profiles"]["drifted_attributes"] == {"first_name": 1}
    assert "@" not in err + json.dumps(summary)
    pipeline.drain()
    profile = pipeline.profile(stale["id"])
    assert profile is not None
    assert profile["first_name"] == "Ada"
    # The collision is still there for a human to resolve; the sweep did not try to identify it again.
    after = pipeline.emulator(f"activity?person_id={collides['id']}")
    assert len([entry for entry in after if entry["type"] == "attribute_update_failure"]) == len(failures)
    violations = pipeline.violations()
    assert violations == [f"{collides['id']}: attributes differ: email"]
