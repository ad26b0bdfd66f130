"""IAM identity-policy evaluation: the rules the local stack holds every function's AWS calls to."""

from __future__ import annotations

from typing import Any

import pytest

from cio_sync_local.iam_policy import AccessRequest, Decision, UnsupportedPolicy, evaluate

pytestmark = pytest.mark.unit

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/cio-sync-dev-idempotency"
SECRET_PATTERN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:cio-sync/customer-io-??????"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_nothing_allowed_is_an_implicit_deny() -> None:
    assert (
        evaluate([], AccessRequest("sqs:SendMessage", "arn:aws:sqs:us-east-1:1:q")) is Decision.IMPLICIT_DENY
    )


def test_an_allow_matching_action_and_resource_allows() -> None:
    policies = [policy(allow(["dynamodb:GetItem", "dynamodb:BatchGetItem"], TABLE))]
    assert evaluate(policies, AccessRequest("dynamodb:BatchGetItem", TABLE)) is Decision.ALLOWED
    assert evaluate(policies, AccessRequest("dynamodb:PutItem", TABLE)) is Decision.IMPLICIT_DENY
    assert evaluate(policies, AccessRequest("dynamodb:GetItem", TABLE + "-other")) is Decision.IMPLICIT_DENY


def test_actions_match_case_insensitively_and_resources_do_not() -> None:
    policies = [policy(allow("DynamoDB:getitem", TABLE))]
    assert evaluate(policies, AccessRequest("dynamodb:GetItem", TABLE)) is Decision.ALLOWED
    assert evaluate(policies, AccessRequest("dynamodb:GetItem", TABLE.upper())) is Decision.IMPLICIT_DENY


def test_wildcards_star_and_question_mark_and_nothing_else() -> None:
    policies = [
        policy(
            allow("secretsmanager:GetSecretValue", SECRET_PATTERN), allow("sqs:*", "arn:aws:sqs:*:*:a.fifo")
        )
    ]
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:cio-sync/customer-io-AbC123"
    assert evaluate(policies, AccessRequest("secretsmanager:GetSecretValue", secret)) is Decision.ALLOWED
    too_long = secret + "x"
    assert (
        evaluate(policies, AccessRequest("secretsmanager:GetSecretValue", too_long)) is Decision.IMPLICIT_DENY
    )
    assert (
        evaluate(policies, AccessRequest("sqs:SendMessage", "arn:aws:sqs:us-east-1:1:a.fifo"))
        is Decision.ALLOWED
    )
    # "." is a character, not "any character"
    assert evaluate(policies, AccessRequest("sqs:SendMessage", "arn:aws:sqs:us-east-1:1:aXfifo")) is (
        Decision.IMPLICIT_DENY
    )


def test_an_explicit_deny_wins_over_any_allow() -> None:
    policies = [
        policy(allow("s3:*", "*")),
        policy({"Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/reports/*"}),
    ]
    assert (
        evaluate(policies, AccessRequest("s3:PutObject", "arn:aws:s3:::b/reports/x"))
        is Decision.EXPLICIT_DENY
    )
    assert evaluate(policies, AccessRequest("s3:PutObject", "arn:aws:s3:::b/other")) is Decision.ALLOWED


def test_not_action_and_not_resource() -> None:
    policies = [
        policy({"Effect": "Allow", "NotAction": "s3:DeleteObject", "NotResource": "arn:aws:s3:::b/keep/*"})
    ]
    assert evaluate(policies, AccessRequest("s3:GetObject", "arn:aws:s3:::b/x")) is Decision.ALLOWED
    assert evaluate(policies, AccessRequest("s3:DeleteObject", "arn:aws:s3:::b/x")) is Decision.IMPLICIT_DENY
    assert (
        evaluate(policies, AccessRequest("s3:GetObject", "arn:aws:s3:::b/keep/x")) is Decision.IMPLICIT_DENY
    )


def test_for_all_values_string_like_on_leading_keys() -> None:
    """The member-stream role's pending rule decisions: only items whose key starts with rules#."""
    policies = [
        policy(
            allow(
                ["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"],
                TABLE,
                Condition={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": "rules#*"}},
            )
        )
    ]

    def batch(*keys: str) -> Decision:
        return evaluate(
            policies, AccessRequest("dynamodb:BatchWriteItem", TABLE, {"dynamodb:LeadingKeys": list(keys)})
        )

    assert batch("rules#a", "rules#b") is Decision.ALLOWED
    assert batch("rules#a", "email#b") is Decision.IMPLICIT_DENY  # a condition that fails does not deny
    assert evaluate(policies, AccessRequest("dynamodb:BatchGetItem", TABLE)) is Decision.ALLOWED  # vacuous


def test_for_any_value_and_a_missing_key() -> None:
    policies = [
        policy(
            allow(
                "s3:ListBucket",
                "arn:aws:s3:::b",
                Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}},
            )
        )
    ]
    assert evaluate(
        policies, AccessRequest("s3:ListBucket", "arn:aws:s3:::b", {"aws:TagKeys": ["x", "a"]})
    ) is (Decision.ALLOWED)
    assert evaluate(policies, AccessRequest("s3:ListBucket", "arn:aws:s3:::b")) is Decision.IMPLICIT_DENY


def test_string_like_on_the_list_prefix() -> None:
    """The import roles may list only reports/."""
    policies = [
        policy(allow("s3:ListBucket", "arn:aws:s3:::b", Condition={"StringLike": {"s3:prefix": "reports/*"}}))
    ]
    listing = AccessRequest("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "reports/mute-promotions/"})
    assert evaluate(policies, listing) is Decision.ALLOWED
    elsewhere = AccessRequest("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "mute-promotions/"})
    assert evaluate(policies, elsewhere) is Decision.IMPLICIT_DENY
    assert evaluate(policies, AccessRequest("s3:ListBucket", "arn:aws:s3:::b")) is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(
    ("operator", "expected", "actual", "holds"),
    [
        ("StringEquals", "a", "a", True),
        ("StringEquals", "a", "A", False),
        ("StringEqualsIgnoreCase", "a", "A", True),
        ("StringNotEquals", "a", "b", True),
        ("StringNotLike", "a*", "ab", False),
        ("ArnLike", "arn:aws:s3:::b*", "arn:aws:s3:::bucket", True),
        ("Bool", "true", "True", True),
        ("NumericLessThan", "1.2", "1.0", True),
        ("NumericLessThan", "1.2", "1.3", False),
        ("NumericGreaterThanEquals", "2", "2", True),
    ],
)
def test_condition_operators(operator: str, expected: str, actual: str, holds: bool) -> None:
    policies = [policy(allow("s3:GetObject", "*", Condition={operator: {"k": expected}}))]
    decision = evaluate(policies, AccessRequest("s3:GetObject", "arn:aws:s3:::b/k", {"k": actual}))
    assert (decision is Decision.ALLOWED) == holds


def test_a_missing_key_fails_a_condition_unless_negated_if_exists_or_null() -> None:
    def decision(condition: dict[str, Any]) -> Decision:
        return evaluate(
            [policy(allow("s3:GetObject", "*", Condition=condition))], AccessRequest("s3:GetObject", "x")
        )

    assert decision({"StringEquals": {"k": "v"}}) is Decision.IMPLICIT_DENY
    assert decision({"StringNotEquals": {"k": "v"}}) is Decision.ALLOWED
    assert decision({"StringEqualsIfExists": {"k": "v"}}) is Decision.ALLOWED
    assert decision({"Null": {"k": "true"}}) is Decision.ALLOWED
    assert decision({"Null": {"k": "false"}}) is Decision.IMPLICIT_DENY


def test_an_operator_it_does_not_know_is_refused_not_guessed() -> None:
    policies = [
        policy(allow("s3:GetObject", "*", Condition={"DateLessThan": {"aws:CurrentTime": "2030-01-01"}}))
    ]
    with pytest.raises(UnsupportedPolicy, match="DateLessThan"):
        evaluate(policies, AccessRequest("s3:GetObject", "x", {"aws:CurrentTime": "2026-01-01"}))
