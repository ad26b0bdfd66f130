"""The local stack holds the email and import-chunk roles to their conditions, as IAM would.

Each case takes template.yaml's own statements and the adapters' own requests (recorded, not retyped), and
shows a call inside the condition allowed and one outside it denied: the email function may touch only its
`email#` claims; the import's mute may write only the mute time and the version token, returning nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from cio_sync.adapters.email_idempotency import DynamoSendClaims
from cio_sync.adapters.member_table import MemberRepository
from cio_sync.sync.intents import SendEmail
from cio_sync_local.iam_calls import StackResources, access_requests
from cio_sync_local.iam_policy import Decision, evaluate
from cio_sync_local.sam import load_template

pytestmark = pytest.mark.unit

RESOURCES = StackResources(
    region="us-east-1", account_id="123456789012", partition_keys={"members": "id", "idempotency": "id"}
)
ARNS = {
    "MemberTable": "arn:aws:dynamodb:us-east-1:123456789012:table/members",
    "IdempotencyTable": "arn:aws:dynamodb:us-east-1:123456789012:table/idempotency",
}
MEMBER_ID = "5f0c8e2a9b1d4c3e2f1a0b9c"
NOW = "2026-12-01T10:00:00.000000Z"


def role_policy(role: str, *sids: str) -> dict[str, Any]:
    """The role's statements named, with their table ARNs resolved (a Resource is !GetAtt Table.Arn)."""
    (policy,) = load_template()["Resources"][role]["Properties"]["Policies"]
    chosen = []
    for statement in policy["PolicyDocument"]["Statement"]:
        if statement["Sid"] in sids:
            table = statement["Resource"]["Fn::GetAtt"][0]
            chosen.append({**statement, "Resource": ARNS[table]})
    assert len(chosen) == len(sids)
    return {"Version": "2012-10-17", "Statement": chosen}


class Recorder:
    """A DynamoDB client that records each call's parameters and answers as if it succeeded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        operation = "".join(part.title() for part in name.split("_"))

        def call(**params: Any) -> dict[str, Any]:
            self.calls.append((operation, params))
            return {}

        return call


def decisions(policy: dict[str, Any], operation: str, params: dict[str, Any]) -> list[Decision]:
    return [
        evaluate([policy], request) for request in access_requests("dynamodb", operation, params, RESOURCES)
    ]


def test_the_email_role_may_claim_record_and_release_its_own_keys_and_no_other() -> None:
    policy = role_policy("EmailRole", "SendEachEmailOnce")
    recorder = Recorder()
    claims = DynamoSendClaims(recorder, "idempotency", clock=lambda: 1_800_000_000)
    intent = SendEmail("pw-1", MEMBER_ID, "password_updated", {})
    claims.claim(intent, 1_800_000_000, 1_800_000_060)
    claims.record_sent(intent, "delivery-1")
    claims.release(intent, "token")
    assert [operation for operation, _ in recorder.calls] == ["PutItem", "UpdateItem", "DeleteItem"]
    for operation, params in recorder.calls:
        assert decisions(policy, operation, params) == [Decision.ALLOWED], operation
        for other_key in (f"rules#{MEMBER_ID}#1", f"mute-import#i-1#{MEMBER_ID}", "email"):
            outside = {**params, "Key" if "Key" in params else "Item": {"id": {"S": other_key}}}
            assert decisions(policy, operation, outside) == [Decision.IMPLICIT_DENY], (operation, other_key)
    read_other = {"TableName": "idempotency", "Key": {"id": {"S": f"rules#{MEMBER_ID}#1"}}}
    assert decisions(policy, "GetItem", read_other) == [Decision.IMPLICIT_DENY]


def test_the_import_chunks_mute_may_write_only_the_mute_and_its_version_token() -> None:
    policy = role_policy("ImportChunkRole", "MuteMembers", "ClaimRows")
    members = MemberRepository("members", region="us-east-1")
    claim = {"TableName": "idempotency", "Item": {"id": {"S": f"mute-import#i-1#{MEMBER_ID}"}}}
    for update in (members.mute_request(MEMBER_ID, NOW), members.restamp_request(MEMBER_ID, NOW, NOW)):
        transaction = {"TransactItems": [{"Update": update}, {"Put": claim}]}
        assert decisions(policy, "TransactWriteItems", transaction) == [Decision.ALLOWED] * 2
        assert decisions(policy, "UpdateItem", update) == [Decision.ALLOWED]
        names = update["ExpressionAttributeNames"]
        for outside in (
            {**update, "ExpressionAttributeNames": {**names, "#2": "email_subscription_status"}},
            {**update, "UpdateExpression": update["UpdateExpression"] + " REMOVE first_name"},
            {**update, "ReturnValues": "ALL_NEW"},  # would read the member's personal data back
        ):
            assert decisions(policy, "UpdateItem", outside) == [Decision.IMPLICIT_DENY], outside
            denied = {"TransactItems": [{"Update": outside}, {"Put": claim}]}
            assert Decision.IMPLICIT_DENY in decisions(policy, "TransactWriteItems", denied)
