"""Hold a function's AWS calls to its role: a botocore event hook installed in each worker process.

`install(authorisation)` adds two handlers to botocore's built-in list, so every botocore session the
function creates afterwards (boto3's, pynamodb's, Powertools') has them:
* `before-parameter-build`: maps the call to the IAM authorisations it needs (`iam_calls`) and evaluates
  them against the role's policies (`iam_policy`); a denial is remembered in the call's context;
* `before-call`: for a denied call, answers in AWS's place with AWS's error (AccessDeniedException for
  DynamoDB and Secrets Manager, AccessDenied for SQS and S3), so botocore raises the same ClientError
  the function would get from AWS, and nothing reaches moto.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore import handlers
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from cio_sync_local.iam_calls import StackResources, access_requests
from cio_sync_local.iam_policy import AccessRequest, Decision, evaluate

log = logging.getLogger("cio_sync_local.iam")

_DENIAL = "cio_sync_local_access_denied"
# Each service's answer to a denied call: (HTTP status, error code).
_ERRORS = {
    "dynamodb": (400, "AccessDeniedException"),
    "dynamodbstreams": (400, "AccessDeniedException"),
    "secretsmanager": (400, "AccessDeniedException"),
    "sqs": (403, "AccessDenied"),
    "s3": (403, "AccessDenied"),
}
_DEFAULT_ERROR = (400, "AccessDeniedException")


@dataclass(frozen=True)
class Authorisation:
    """Who the function is and what its role allows."""

    role_arn: str
    session_name: str  # Lambda names the role session after the function
    policies: Sequence[Mapping[str, Any]]
    resources: StackResources

    @property
    def principal(self) -> str:
        """The assumed-role ARN AWS names in its AccessDenied messages."""
        account = self.role_arn.split(":")[4]
        role = self.role_arn.rsplit("/", 1)[1]
        return f"arn:{self.resources.partition}:sts::{account}:assumed-role/{role}/{self.session_name}"

    def denial(self, service: str, operation: str, params: Mapping[str, Any]) -> str | None:
        """AWS's message for the first authorisation the call lacks, or None when it has them all."""
        for request in access_requests(service, operation, params, self.resources):
            decision = evaluate(self.policies, request)
            if decision is not Decision.ALLOWED:
                return _message(self.principal, request, decision)
        return None


def _message(principal: str, request: AccessRequest, decision: Decision) -> str:
    why = (
        "with an explicit deny in an identity-based policy"
        if decision is Decision.EXPLICIT_DENY
        else f"because no identity-based policy allows the {request.action} action"
    )
    return (
        f"User: {principal} is not authorized to perform: {request.action} on resource: "
        f"{request.resource} {why}"
    )


class _Hook:
    def __init__(self, authorisation: Authorisation) -> None:
        self.authorisation = authorisation

    def check(self, params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        service = model.service_model.service_name
        message = self.authorisation.denial(service, model.name, params)
        if message is not None:
            log.warning("denied by the role: %s", message)
            context[_DENIAL] = (service, message)

    def answer(self, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        denial = context.get(_DENIAL)
        if denial is None:
            return None
        service, message = denial
        status, code = _ERRORS.get(service, _DEFAULT_ERROR)
        request_id = str(uuid.uuid4())
        headers = HTTPHeaders()
        headers["x-amzn-requestid"] = request_id
        parsed = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {
                "RequestId": request_id,
                "HTTPStatusCode": status,
                "HTTPHeaders": {"x-amzn-requestid": request_id},
                "RetryAttempts": 0,
            },
        }
        return AWSResponse("", status, headers, _NoBody()), parsed


class _NoBody:
    def stream(self, **_: Any) -> Any:
        return iter(())


def install(authorisation: Authorisation) -> None:
    """From now on, every new botocore session in this process authorises its calls against the role."""
    hook = _Hook(authorisation)
    handlers.BUILTIN_HANDLERS.append(("before-parameter-build", hook.check))
    handlers.BUILTIN_HANDLERS.append(("before-call", hook.answer, handlers.REGISTER_FIRST))
