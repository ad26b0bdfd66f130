"""LocalStack in-process: the real template's resources, endpoints in the environment, stack.json, drain."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from cio_sync.members.contract import utc_now_iso
from cio_sync.members.subscriptions import web_signup
from cio_sync_cli.errors import CommandError
from cio_sync_local.emulator.openapi import OpenApiDocumentMissing
from cio_sync_local.local_cli import run_drain
from cio_sync_local.stack import DrainTimeout, LocalStack
from tests.integration.local.conftest import Recorder

pytestmark = pytest.mark.integration
_serializer = TypeSerializer()

FUNCTIONS = (
    "MemberStreamFunction",
    "TrackFunction",
    "EmailFunction",
    "ImportFileFunction",
    "ImportChunkFunction",
)


def _identity(record: dict[str, Any]) -> str:
    return str(record.get("messageId") or record["dynamodb"]["SequenceNumber"])


def test_the_stack_runs_the_deployed_template_and_its_drain_names_what_is_busy(tmp_path: Path) -> None:
    """One stack for both (a start costs a worker ~10 s): the template deployed with each function's
    environment, then a drain that must time out naming the message failed on purpose."""
    failing = Recorder(identify=_identity, fail=lambda _record, _seen: True)
    recorders = {name: Recorder(identify=_identity) for name in FUNCTIONS} | {"EmailFunction": failing}
    table_before = os.environ.get("MEMBER_TABLE_NAME")

    with LocalStack(
        aws_port=0, cio_port=0, state_dir=tmp_path, handlers=recorders, visibility_timeout_s=300
    ) as stack:
        info = json.loads((tmp_path / "stack.json").read_text(encoding="utf-8"))
        assert info["stack_name"] == stack.stack_name == "cio-sync-local"
        stacks = stack.client("cloudformation").describe_stacks(StackName=info["stack_name"])["Stacks"]
        assert stacks[0]["StackStatus"] == "CREATE_COMPLETE"
        assert info["aws_endpoint"] == stack.aws_endpoint
        assert info["emulator_url"] == stack.emulator_url
        assert info["member_table"] == stack.table_name() == os.environ["MEMBER_TABLE_NAME"]
        assert info["queues"]["TrackQueue"] == stack.queue_url("TrackQueue") == os.environ["TRACK_QUEUE_URL"]
        assert info["bucket"] == stack.bucket_name()
        # This process may act as another service: the endpoint and what the functions agree on.
        assert os.environ["AWS_ENDPOINT_URL"] == stack.aws_endpoint
        assert os.environ["CUSTOMER_IO_TRACK_URL"] == os.environ["CUSTOMER_IO_APP_URL"] == stack.emulator_url
        assert os.environ["CUSTOMER_IO_ENABLED"] == "true"
        # Each function its own: the deployed variables, the emulator where the template left room for it.
        track_environment = stack.function_environment("TrackFunction")
        assert track_environment["CUSTOMER_IO_TRACK_URL"] == stack.emulator_url
        assert track_environment["AWS_ENDPOINT_URL"] == stack.aws_endpoint
        assert (
            track_environment["AWS_LAMBDA_FUNCTION_NAME"] == stack.description.functions["TrackFunction"].name
        )
        importer = stack.function_environment("ImportChunkFunction")
        assert "CUSTOMER_IO_TRACK_URL" not in importer
        assert importer["IMPORT_BUCKET"] == stack.bucket_name()
        secrets = stack.client("secretsmanager")
        track = json.loads(
            secrets.get_secret_value(SecretId=track_environment["CUSTOMER_IO_TRACK_SECRET_NAME"])[
                "SecretString"
            ]
        )
        app = json.loads(
            secrets.get_secret_value(SecretId=os.environ["CUSTOMER_IO_APP_SECRET_NAME"])["SecretString"]
        )
        assert stack.emulator is not None
        # Each secret holds only its own API's keys, as each function needs only its own.
        assert set(track) == {"site_id", "track_api_key"}
        assert track["site_id"] == stack.emulator.site_id
        assert set(app) == {"app_api_key"}

        stack.client("dynamodb").put_item(TableName=stack.table_name(), Item={"id": {"S": "0" * 24}})
        upload = stack.client("s3").put_object(
            Bucket=stack.bucket_name(), Key="mute-promotions/a.csv", Body=b"x"
        )
        stack.client("s3").put_object(
            Bucket=stack.bucket_name(), Key="reports/not-an-upload.json", Body=b"{}"
        )
        stack.drain(30)

        (stream_event,) = recorders["MemberStreamFunction"].events
        (record,) = stream_event["Records"]
        assert record["eventName"] == "INSERT"
        assert record["eventSourceARN"] == info["stream_arns"]["MemberTable"]
        bodies = [
            json.loads(record["body"])
            for event in recorders["ImportFileFunction"].events
            for record in event["Records"]
        ]
        assert bodies[0]["Event"] == "s3:TestEvent"
        assert [body["Records"][0]["s3"]["object"]["versionId"] for body in bodies[1:]] == [
            upload["VersionId"]
        ]

        # `cio-sync local drain` as another process runs it: over the control endpoint in stack.json
        assert run_drain(argparse.Namespace(timeout=10.0, state_dir=tmp_path)) == 0

        # A message failed on purpose stays in flight for its 300 s visibility timeout: a drain, long
        # enough for several full checks but far shorter than that, must time out naming it.
        stack.client("sqs").send_message(QueueUrl=stack.queue_url("EmailQueue"), MessageBody="{}")
        assert failing.called.wait(60), "the email function was never invoked"
        with pytest.raises(DrainTimeout, match=r"EmailQueue: 0 waiting, 1 in flight"):
            stack.drain(10)

        # One stack per process: a second start while this one runs is refused (checked on this stack
        # rather than on one of its own: a start costs a worker ~10 s).
        with pytest.raises(RuntimeError, match="already running"):
            LocalStack(aws_port=0, cio_port=0).start()

    assert not (tmp_path / "stack.json").exists()
    assert os.environ.get("MEMBER_TABLE_NAME") == table_before


def test_drain_without_a_running_stack_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no local stack is running here"):
        run_drain(argparse.Namespace(timeout=1.0, state_dir=tmp_path))


def _has_profile_after_web_signup(stack: LocalStack) -> bool:
    member = web_signup({"email": "pump@example.org"}, utc_now_iso())
    item = {name: _serializer.serialize(value) for name, value in member.items()}
    stack.client("dynamodb").put_item(TableName=stack.table_name(), Item=item)
    stack.drain(60)
    assert stack.emulator is not None
    return stack.emulator.state.profile(member["id"]) is not None


def test_the_real_handlers_follow_each_new_stack_like_a_cold_start() -> None:
    """Handlers cache settings and clients per process; a second stack has a new emulator and new resource
    names (a stack name of its own: moto server is shared) and must be used."""
    for run in range(2):
        with LocalStack(aws_port=0, cio_port=0, stack_name=f"cio-sync-cold-{run}") as stack:
            assert _has_profile_after_web_signup(stack)


def test_a_start_that_fails_leaves_none_of_its_threads_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI exits right after a failed start; a thread still packaging then could abort the process."""
    monkeypatch.setenv("CIO_OPENAPI_PATH", str(tmp_path / "missing.json"))
    stack = LocalStack(aws_port=0, cio_port=0, demo=False)
    with pytest.raises(OpenApiDocumentMissing):
        stack.start()
    assert [thread.name for thread in threading.enumerate() if thread.name == "local-stack-start"] == []


def test_a_missing_openapi_document_is_one_clear_line_not_a_traceback(tmp_path: Path) -> None:
    cli = Path(sys.executable).with_name("cio-sync")
    result = subprocess.run(
        [str(cli), "local", "up", "--no-demo", "--aws-port", "0", "--cio-port", "0"],
        cwd=tmp_path,
        env={**os.environ, "CIO_OPENAPI_PATH": str(tmp_path / "missing.json")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("cio-sync: the local stack could not start: Customer.io's OpenAPI")
