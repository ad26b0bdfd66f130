"""Each function is held to its deployed role: a grant taken out of template.yaml breaks the flow needing it.

Each stack below is template.yaml with some grants removed (one per function, chosen so that the flows
they break do not depend on each other), deployed and run like the real one. A flow is shown broken by
the function's own output naming the denied action on the resource (AWS's AccessDenied message, which the
worker's hook logs) and by its effect never happening. That the unchanged template needs nothing it lacks
is what every other test of the pipeline shows: they all run with the roles enforced.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cio_sync.producer_api import producer
from cio_sync_cli.member_writes import MemberAdmin
from cio_sync_local.deploy import DeployError
from cio_sync_local.sam import load_template
from cio_sync_local.stack import LocalStack

pytestmark = pytest.mark.integration

WAIT_S = 120.0


@dataclass(frozen=True)
class Grant:
    """One grant of a role's policy: an action of a statement, or one resource of it."""

    role: str
    sid: str
    action: str
    resource: str | None = None  # logical id of a resource the statement names (!GetAtt X.Arn)


def without(grants: list[Grant]) -> dict[str, Any]:
    """template.yaml with each grant taken out (the statement goes when nothing is left of it)."""
    template = load_template()
    for grant in grants:
        (policy,) = template["Resources"][grant.role]["Properties"]["Policies"]
        statements = policy["PolicyDocument"]["Statement"]
        statement = next(item for item in statements if item["Sid"] == grant.sid)
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert grant.action in actions, grant
        if grant.resource is None:
            statement["Action"] = [action for action in actions if action != grant.action]
        else:
            reference = {"Fn::GetAtt": [grant.resource, "Arn"]}
            assert reference in statement["Resource"], grant
            statement["Resource"] = [item for item in statement["Resource"] if item != reference]
        if not statement["Action"] or not statement["Resource"]:
            statements.remove(statement)
    return template


class RoleStack:
    def __init__(self, stack: LocalStack, output: io.StringIO) -> None:
        self.stack = stack
        self.output = output
        self.members = MemberAdmin(stack.table_name(), endpoint_url=stack.aws_endpoint)

    def mark(self) -> int:
        """Where the functions' output stands now: `denied` looks only at what comes after."""
        return len(self.output.getvalue())

    def denied(self, since: int, by: str, action: str, resource: str) -> None:
        """Wait until function `by` (a logical id) was refused `action` on `resource` after `since`, as AWS
        would say it (another function's denial, or one from an earlier test, does not count)."""
        function = self.stack.description.functions[by]
        role = function.role_arn.rsplit("/", 1)[1]
        principal = f"assumed-role/{role}/{function.name}"
        expected = f"{principal} is not authorized to perform: {action} on resource: {resource}"
        deadline = time.monotonic() + WAIT_S
        while expected not in self.output.getvalue()[since:]:
            assert time.monotonic() < deadline, f"{by} was not denied {action} on {resource}"
            time.sleep(0.1)

    def arn(self, kind: str, logical_id: str) -> str:
        description = self.stack.description
        if kind == "table":
            return description.tables[logical_id].arn
        return description.queues[logical_id].arn

    def emulator(self) -> Any:
        assert self.stack.emulator is not None
        return self.stack.emulator.state


def _stack(directory: Path, grants: list[Grant]) -> Iterator[RoleStack]:
    path = directory / "template.json"
    path.write_text(json.dumps(without(grants)), encoding="utf-8")
    output = io.StringIO()
    with LocalStack(
        aws_port=0,
        cio_port=0,
        template=path,
        visibility_timeout_s=5,
        time_scale=0.01,
        function_output=output,
    ) as stack:
        yield RoleStack(stack, output)


# Taken out together: none of these flows needs another's grant.
TRACK_READS_MEMBERS = Grant("TrackRole", "ReadMembers", "dynamodb:BatchGetItem")
EMAIL_READS_SECRET = Grant("EmailRole", "ReadCustomerIoSecret", "secretsmanager:GetSecretValue")
CHUNK_MUTES_MEMBERS = Grant("ImportChunkRole", "MuteMembers", "dynamodb:UpdateItem")
SWEEP_READS_MEMBERS = Grant("ProfileSweepRole", "ReadMembers", "dynamodb:BatchGetItem")
# Taken out together, in a stack of their own (the upstream one): parking needs the email DLQ's key.
EMAIL_ENCRYPTS_DEAD_LETTERS = Grant("EmailRole", "EncryptDeadLetters", "kms:GenerateDataKey")
# Taken out together, in a stack of their own: the flows above need these.
STREAM_SENDS_TO_TRACK = Grant("MemberStreamRole", "SendIntentsAndFailures", "sqs:SendMessage", "TrackQueue")
FILE_READS_UPLOADS = Grant("ImportFileRole", "ReadUploads", "s3:GetObjectVersion")


@pytest.fixture(scope="class")
def downstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoleStack]:
    grants = [TRACK_READS_MEMBERS, EMAIL_READS_SECRET, CHUNK_MUTES_MEMBERS, SWEEP_READS_MEMBERS]
    yield from _stack(tmp_path_factory.mktemp("downstream"), grants)


@pytest.fixture(scope="class")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoleStack]:
    grants = [STREAM_SENDS_TO_TRACK, FILE_READS_UPLOADS, EMAIL_ENCRYPTS_DEAD_LETTERS]
    yield from _stack(tmp_path_factory.mktemp("upstream"), grants)


def upload(roles: RoleStack, member_id: str) -> None:
    key = f"mute-promotions/roles-{uuid.uuid4().hex[:8]}.csv"
    body = f"northstar_id\n{member_id}\n".encode()
    roles.stack.client("s3").put_object(Bucket=roles.stack.bucket_name(), Key=key, Body=body)


class TestWithoutDownstreamGrants:
    """One stack: the track, email, import-chunk and profile-sweep functions each lack a grant their flow
    needs."""

    def test_track_without_batch_get_item_on_members_never_syncs_a_sign_up(
        self, downstream: RoleStack
    ) -> None:
        since = downstream.mark()
        member = downstream.members.create_web_signup({"email": f"roles-{uuid.uuid4().hex[:8]}@example.org"})
        downstream.denied(
            since, "TrackFunction", "dynamodb:BatchGetItem", downstream.arn("table", "MemberTable")
        )
        assert downstream.emulator().profile(member["id"]) is None

    def test_email_without_the_secret_never_sends(self, downstream: RoleStack) -> None:
        since = downstream.mark()
        member = downstream.members.create_web_signup({"email": f"roles-{uuid.uuid4().hex[:8]}@example.org"})
        producer().request_password_reset(member["id"], "https://example.org/reset/roles")
        secret = downstream.stack.description.secrets[downstream.stack.parameters["CustomerIoAppSecretName"]]
        downstream.denied(since, "EmailFunction", "secretsmanager:GetSecretValue", secret)
        assert downstream.emulator().emails_json() == []

    def test_import_chunk_without_update_item_on_members_mutes_nobody(self, downstream: RoleStack) -> None:
        since = downstream.mark()
        member = downstream.members.create_web_signup({"email": f"roles-{uuid.uuid4().hex[:8]}@example.org"})
        upload(downstream, member["id"])
        downstream.denied(
            since, "ImportChunkFunction", "dynamodb:UpdateItem", downstream.arn("table", "MemberTable")
        )
        stored = downstream.members.get(member["id"])
        assert stored is not None
        assert stored.get("promotions_muted_at") is None

    def test_profile_sweep_without_batch_get_item_on_members_deletes_nothing(
        self, downstream: RoleStack
    ) -> None:
        since = downstream.mark()
        orphan = uuid.uuid4().hex[:24]
        downstream.emulator().seed([(orphan, {})])
        result = downstream.stack.invoke("ProfileSweepFunction", {"detail-type": "Scheduled Event"})
        downstream.denied(
            since, "ProfileSweepFunction", "dynamodb:BatchGetItem", downstream.arn("table", "MemberTable")
        )
        assert result.error is not None or result.response["complete"] is False
        assert downstream.emulator().profile(orphan) is not None


class TestWithoutUpstreamGrants:
    """Another stack: the member-stream and import-file functions each lack a grant their flow needs, and
    the email function the key of its encrypted dead-letter queue."""

    def test_member_stream_without_send_message_to_the_track_queue_syncs_nothing(
        self, upstream: RoleStack
    ) -> None:
        since = upstream.mark()
        member = upstream.members.create_web_signup({"email": f"roles-{uuid.uuid4().hex[:8]}@example.org"})
        upstream.denied(since, "MemberStreamFunction", "sqs:SendMessage", upstream.arn("queue", "TrackQueue"))
        assert upstream.emulator().profile(member["id"]) is None

    def test_import_file_without_reading_uploads_dispatches_nothing(self, upstream: RoleStack) -> None:
        since = upstream.mark()
        member = upstream.members.create_web_signup({"email": f"roles-{uuid.uuid4().hex[:8]}@example.org"})
        upload(upstream, member["id"])
        bucket = upstream.stack.description.buckets["ImportBucket"].arn
        upstream.denied(
            since, "ImportFileFunction", "s3:GetObjectVersion", f"{bucket}/mute-promotions/roles-"
        )
        stored = upstream.members.get(member["id"])
        assert stored is not None
        assert stored.get("promotions_muted_at") is None

    def test_email_without_the_dead_letter_key_cannot_park_a_malformed_message(
        self, upstream: RoleStack
    ) -> None:
        since = upstream.mark()
        sqs = upstream.stack.client("sqs")
        sqs.send_message(QueueUrl=upstream.stack.queue_url("EmailQueue"), MessageBody="not an intent")
        upstream.denied(since, "EmailFunction", "kms:GenerateDataKey", _email_dead_letter_key(upstream))
        parked = sqs.get_queue_attributes(
            QueueUrl=upstream.stack.queue_url("EmailDeadLetterQueue"),
            AttributeNames=["ApproximateNumberOfMessages"],
        )["Attributes"]
        assert parked["ApproximateNumberOfMessages"] == "0"


def _email_dead_letter_key(roles: RoleStack) -> str:
    key = roles.stack.description.queues["EmailDeadLetterQueue"].kms_key_arn
    assert key is not None
    return key


def test_a_mapping_whose_role_cannot_read_its_source_is_refused_at_start(tmp_path: Path) -> None:
    """The pollers act for the function outside its worker: their grants are checked as Lambda checks them
    when it creates the mapping, and the stack does not start."""
    grants = [
        Grant("TrackRole", "ConsumeTrackQueue", "sqs:ReceiveMessage"),
        Grant("MemberStreamRole", "ReadMemberStream", "dynamodb:GetRecords"),
    ]
    path = tmp_path / "template.json"
    path.write_text(json.dumps(without(grants)), encoding="utf-8")
    with pytest.raises(DeployError) as refused:
        LocalStack(aws_port=0, cio_port=0, template=path).__enter__()
    message = str(refused.value)
    assert "permission to call sqs:ReceiveMessage on arn:aws:sqs:" in message
    assert "permission to call dynamodb:GetRecords on arn:aws:dynamodb:" in message
    assert message.count("\n") == 2  # those two, nothing else the unchanged template grants
