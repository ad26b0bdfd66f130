"""Which IAM authorisations an AWS API call needs: actions, resource ARNs and condition keys.

`access_requests(service, operation, params, resources)` answers for the calls a function may make, with
the API's parameters as the caller passed them to botocore. The mapping follows AWS's Service
Authorization Reference for the services the functions use:

* DynamoDB: the action is the operation's name, except in transactions, where each item is authorised by
  its own action (Put -> PutItem, Update -> UpdateItem, Delete -> DeleteItem, ConditionCheck ->
  ConditionCheckItem, Get -> GetItem); a batch needs its action on each table it names. The resource is
  the table (or `table/T/index/I`, or the stream's ARN for Streams); `dynamodb:LeadingKeys` is the
  partition key values the request touches.
* SQS: the action is the operation's, a batch needs its single action (SendMessageBatch ->
  SendMessage, ...); the resource is the queue's ARN, derived from its URL.
* S3: objects are `arn:aws:s3:::bucket/key`, GetObject/HeadObject of a version needs GetObjectVersion,
  listing is ListBucket on the bucket with `s3:prefix`, `s3:delimiter` and `s3:max-keys`.
* Secrets Manager: the secret's full ARN (the name plus the random suffix), whichever way it is named.
Anything else is `service:Operation` on "*", which the template's roles never grant.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from cio_sync_local.iam_policy import AccessRequest

# Calls that need no permission at all.
UNAUTHORISED_OPERATIONS = frozenset({("sts", "GetCallerIdentity")})
# IAM prefixes where they differ from botocore's service names.
PREFIXES = {"dynamodbstreams": "dynamodb"}
SQS_BATCHES = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}
TRANSACTION_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
S3_OBJECT_ACTIONS = {
    "GetObject": "GetObject",
    "HeadObject": "GetObject",
    "PutObject": "PutObject",
    "DeleteObject": "DeleteObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "AbortMultipartUpload": "AbortMultipartUpload",
    "ListParts": "ListMultipartUploadParts",
    "GetObjectTagging": "GetObjectTagging",
    "PutObjectTagging": "PutObjectTagging",
}
S3_VERSIONED = {"GetObject": "GetObjectVersion", "DeleteObject": "DeleteObjectVersion"}
S3_BUCKET_ACTIONS = {
    "ListObjectsV2": "ListBucket",
    "ListObjects": "ListBucket",
    "HeadBucket": "ListBucket",
    "ListObjectVersions": "ListBucketVersions",
    "ListMultipartUploads": "ListBucketMultipartUploads",
}


@dataclass(frozen=True)
class StackResources:
    """What turns a call's parameters into ARNs: where the stack lives, and facts ARNs cannot tell."""

    region: str
    account_id: str
    partition: str = "aws"
    partition_keys: Mapping[str, str] = field(default_factory=dict)  # table name -> partition key attribute
    secrets: Mapping[str, str] = field(default_factory=dict)  # secret name -> full ARN
    queue_keys: Mapping[str, str] = field(
        default_factory=dict
    )  # queue ARN -> its customer managed KMS key ARN

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{resource}"


def access_requests(
    service: str, operation: str, params: Mapping[str, Any], resources: StackResources
) -> list[AccessRequest]:
    """Every authorisation the call needs (empty: none)."""
    if (service, operation) in UNAUTHORISED_OPERATIONS:
        return []
    if service in {"dynamodb", "dynamodbstreams"}:
        return _dynamodb(service, operation, params, resources)
    if service == "sqs":
        return _sqs(operation, params, resources)
    if service == "s3":
        return _s3(operation, params, resources)
    if service == "secretsmanager":
        return _secretsmanager(operation, params, resources)
    return [AccessRequest(f"{PREFIXES.get(service, service)}:{operation}", "*")]


# ---- DynamoDB ------------------------------------------------------------------------------------------


def _table_arn(table: str, resources: StackResources) -> str:
    return table if table.startswith("arn:") else resources.arn("dynamodb", f"table/{table}")


def _table_name(table: str) -> str:
    return table.split("table/", 1)[1].split("/", 1)[0] if table.startswith("arn:") else table


def _key_value(value: Any) -> str | None:
    """An attribute value as the LeadingKeys condition compares it (strings, numbers, binary as base64)."""
    if not isinstance(value, Mapping):  # a plain value (boto3's resource layer serialises it later)
        return str(value)
    if "S" in value:
        return str(value["S"])
    if "N" in value:
        return str(value["N"])
    if "B" in value:
        raw = value["B"]
        return base64.b64encode(raw).decode() if isinstance(raw, bytes) else str(raw)
    return None


def _leading_keys(table: str, items: Sequence[Mapping[str, Any]], resources: StackResources) -> list[str]:
    attribute = resources.partition_keys.get(_table_name(table))
    if attribute is None:
        return []
    keys = [_key_value(item[attribute]) for item in items if attribute in item]
    return [key for key in keys if key is not None]


# Words of DynamoDB's expression grammar that are not attribute names.
_EXPRESSION_WORDS = frozenset(
    {
        "set", "remove", "add", "delete", "and", "or", "not", "between", "in",
        "attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains", "size",
        "if_not_exists", "list_append",
    }
)  # fmt: skip
_EXPRESSION_TOKEN = re.compile(r"(?<![.\w#:])(#\w+|:\w+|[A-Za-z_]\w*)")


def _top_level_names(expression: str, names: Mapping[str, str]) -> set[str]:
    """The top-level attribute names an expression touches (`a.b[0]` touches `a`; `#n` is looked up)."""
    found: set[str] = set()
    for token in _EXPRESSION_TOKEN.findall(expression):
        if token.startswith(":"):
            continue
        if token.startswith("#"):
            found.add(names.get(token, token))
        elif token.lower() not in _EXPRESSION_WORDS:
            found.add(token)
    return found


def _attributes(items: Sequence[Mapping[str, Any]], extra: Mapping[str, Any]) -> list[str]:
    """`dynamodb:Attributes`: the key's or item's attribute names and those the request's expressions name
    (what a `ForAllValues` condition on it limits a write or a read to)."""
    found: set[str] = {name for item in items for name in item}
    names = extra.get("ExpressionAttributeNames") or {}
    for parameter in ("UpdateExpression", "ConditionExpression", "ProjectionExpression"):
        if isinstance(extra.get(parameter), str):
            found |= _top_level_names(extra[parameter], names)
    found |= set(extra.get("AttributeUpdates") or {}) | set(extra.get("AttributesToGet") or [])
    return sorted(found)


def _item_request(
    action: str,
    table: str,
    items: Sequence[Mapping[str, Any]],
    resources: StackResources,
    extra: Mapping[str, Any],
) -> AccessRequest:
    context: dict[str, Any] = {}
    leading = _leading_keys(table, items, resources)
    if leading:
        context["dynamodb:LeadingKeys"] = leading
    attributes = _attributes(items, extra) if extra else []  # single items and transaction items only
    if attributes:
        context["dynamodb:Attributes"] = attributes
    for parameter, key in (("ReturnValues", "dynamodb:ReturnValues"), ("Select", "dynamodb:Select")):
        if parameter in extra:
            context[key] = str(extra[parameter])
    return AccessRequest(f"dynamodb:{action}", _table_arn(table, resources), context)


def _dynamodb(
    service: str, operation: str, params: Mapping[str, Any], resources: StackResources
) -> list[AccessRequest]:
    if service == "dynamodbstreams":
        stream = params.get("StreamArn") or params.get("TableName")
        return [AccessRequest(f"dynamodb:{operation}", str(stream) if stream else "*")]
    if operation in {"BatchGetItem", "BatchWriteItem"}:
        return [
            _item_request(operation, table, _batch_keys(operation, request), resources, {})
            for table, request in params.get("RequestItems", {}).items()
        ]
    if operation in {"TransactWriteItems", "TransactGetItems"}:
        requests = []
        for entry in params.get("TransactItems", []):
            ((kind, item),) = entry.items()
            key = item.get("Key") or item.get("Item") or {}
            requests.append(
                _item_request(TRANSACTION_ACTIONS[kind], item["TableName"], [key], resources, item)
            )
        return requests
    table = params.get("TableName")
    if table is not None and operation in {"GetItem", "PutItem", "UpdateItem", "DeleteItem"}:
        key = params.get("Key") or params.get("Item") or {}
        return [_item_request(operation, str(table), [key], resources, params)]
    resource = _table_arn(str(table), resources) if table is not None else "*"
    if table is not None and params.get("IndexName"):
        resource = f"{resource}/index/{params['IndexName']}"
    return [AccessRequest(f"dynamodb:{operation}", resource)]


def _batch_keys(operation: str, request: Any) -> list[Mapping[str, Any]]:
    """The keys one table's part of a batch touches (BatchGetItem's Keys, BatchWriteItem's items and keys)."""
    if operation == "BatchGetItem":
        return list(request.get("Keys", []))
    return [
        write.get("PutRequest", {}).get("Item") or write.get("DeleteRequest", {}).get("Key") or {}
        for write in request
    ]


# ---- SQS -----------------------------------------------------------------------------------------------


def queue_arn(queue_url: str, resources: StackResources) -> str:
    """https://host/ACCOUNT/NAME (any host: AWS's or moto's) -> arn:aws:sqs:REGION:ACCOUNT:NAME."""
    parts = [part for part in urlsplit(queue_url).path.split("/") if part]
    if len(parts) != 2:
        return "*"
    account, name = parts
    return f"arn:{resources.partition}:sqs:{resources.region}:{account}:{name}"


# Server-side encryption with a customer managed key: a producer needs the key to encrypt, a consumer to
# decrypt (SQS asks KMS on the caller's behalf, with the caller's permissions).
KMS_FOR_SQS: Final = {"sqs:SendMessage": "kms:GenerateDataKey", "sqs:ReceiveMessage": "kms:Decrypt"}


def _sqs(operation: str, params: Mapping[str, Any], resources: StackResources) -> list[AccessRequest]:
    action = f"sqs:{SQS_BATCHES.get(operation, operation)}"
    if "QueueUrl" in params:
        queue = queue_arn(str(params["QueueUrl"]), resources)
        requests = [AccessRequest(action, queue)]
        key = resources.queue_keys.get(queue)
        if key is not None and action in KMS_FOR_SQS:
            requests.append(AccessRequest(KMS_FOR_SQS[action], key))
        return requests
    if operation == "GetQueueUrl" and "QueueName" in params:
        account = params.get("QueueOwnerAWSAccountId") or resources.account_id
        return [
            AccessRequest(
                action, f"arn:{resources.partition}:sqs:{resources.region}:{account}:{params['QueueName']}"
            )
        ]
    return [AccessRequest(action, "*")]


# ---- S3 ------------------------------------------------------------------------------------------------


def _s3(operation: str, params: Mapping[str, Any], resources: StackResources) -> list[AccessRequest]:
    bucket = params.get("Bucket")
    if bucket is None:
        return [AccessRequest(f"s3:{operation}", "*")]
    bucket_arn = f"arn:{resources.partition}:s3:::{bucket}"
    if operation in S3_BUCKET_ACTIONS:
        context = {
            key: str(params[parameter])
            for parameter, key in (
                ("Prefix", "s3:prefix"),
                ("Delimiter", "s3:delimiter"),
                ("MaxKeys", "s3:max-keys"),
            )
            if parameter in params
        }
        return [AccessRequest(f"s3:{S3_BUCKET_ACTIONS[operation]}", bucket_arn, context)]
    if operation == "CopyObject":
        source = params.get("CopySource")
        if isinstance(source, Mapping):
            source_arn = f"arn:{resources.partition}:s3:::{source['Bucket']}/{source['Key']}"
        else:
            source_arn = f"arn:{resources.partition}:s3:::{str(source).lstrip('/').split('?', 1)[0]}"
        return [
            AccessRequest("s3:GetObject", source_arn),
            AccessRequest("s3:PutObject", f"{bucket_arn}/{params['Key']}"),
        ]
    if operation in S3_OBJECT_ACTIONS and "Key" in params:
        action = S3_OBJECT_ACTIONS[operation]
        if params.get("VersionId") and action in S3_VERSIONED:
            action = S3_VERSIONED[action]
        return [AccessRequest(f"s3:{action}", f"{bucket_arn}/{params['Key']}")]
    return [AccessRequest(f"s3:{operation}", bucket_arn)]


# ---- Secrets Manager -----------------------------------------------------------------------------------


def _secretsmanager(
    operation: str, params: Mapping[str, Any], resources: StackResources
) -> list[AccessRequest]:
    secret = params.get("SecretId")
    if secret is None:
        return [AccessRequest(f"secretsmanager:{operation}", "*")]
    text = str(secret)
    arn = text if text.startswith("arn:") else resources.secrets.get(text)
    if arn is None:  # no such secret: AWS authorises against the name it would have
        arn = resources.arn("secretsmanager", f"secret:{text}")
    return [AccessRequest(f"secretsmanager:{operation}", arn)]
