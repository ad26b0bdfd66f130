"""What Lambda checks when it creates an event source mapping: the function's role may read the source.

The local pollers run in the parent process, outside any worker's role, so the calls Lambda's pollers make
on the function's behalf (receive and delete the queue's messages, read the stream, send a failed batch
to its on-failure destination) are checked here once, before the stack runs, and a missing grant fails
the start with the error AWS would give at CreateEventSourceMapping.
"""

from __future__ import annotations

from cio_sync_local.description import MappingSpec, StackDescription
from cio_sync_local.iam_policy import AccessRequest, Decision, evaluate

SQS_POLLER_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
STREAM_POLLER_ACTIONS = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
)


def poller_requests(mapping: MappingSpec, description: StackDescription) -> list[AccessRequest]:
    actions = STREAM_POLLER_ACTIONS if mapping.kind == "dynamodb" else SQS_POLLER_ACTIONS
    requests = [AccessRequest(action, mapping.source_arn) for action in actions]
    if mapping.on_failure:
        requests.append(AccessRequest("sqs:SendMessage", description.queues[mapping.on_failure].arn))
    return requests


def refused_mappings(description: StackDescription) -> list[str]:
    """One line per grant an enabled mapping's function role lacks (empty: every mapping may run)."""
    refused: list[str] = []
    for mapping in description.mappings:
        if not mapping.enabled:
            continue
        role = description.role_of(mapping.function)
        for request in poller_requests(mapping, description):
            if evaluate(list(role.policies), request) is not Decision.ALLOWED:
                refused.append(
                    f"{mapping.function}/{mapping.name}: the execution role {role.name} does not have"
                    f" permission to call {request.action} on {request.resource}"
                )
    return refused
