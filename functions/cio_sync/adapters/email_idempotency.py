"""The email's claims in the idempotency table: `email#<member id>#<intent id>`, one item per intent.

An item holds the lease of the receive sending it (`lease_until`, unix seconds, and that receive's
`holder` token), then the App API's `delivery_id`, and a TTL (`expiration`, a week): ids only, no personal
data. The email role may touch only `email#*` keys (template.yaml). Two members' intents never share a key.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from typing import Any, Final

from botocore.exceptions import ClientError

from cio_sync.pipeline.email_consumer import AlreadySent, Claim, Claimed, Held
from cio_sync.sync.intents import SendEmail

CLAIM_PREFIX: Final = "email"
# A redelivery within this window finds the record; later the record is gone (TTL) and it would send again.
IDEMPOTENCY_WINDOW_S: Final = 7 * 24 * 3600
CONDITION_FAILED: Final = "ConditionalCheckFailedException"

# Free: no item, an item past its TTL not yet deleted, or an expired lease that never saw a delivery id
# (its holder died mid-send: the App API has no idempotency key, so that intent may be sent twice).
_CLAIM_CONDITION: Final = (
    "attribute_not_exists(#id) OR #expiration < :now OR (attribute_not_exists(#delivery) AND #lease < :now)"
)


def claim_key(intent: SendEmail) -> str:
    return f"{CLAIM_PREFIX}#{intent.member_id}#{intent.intent_id}"


class DynamoSendClaims:
    """The email consumer's `SendClaims`, on a botocore DynamoDB client (cio_sync.adapters.aws)."""

    def __init__(self, client: Any, table_name: str, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table_name = table_name
        self._clock = clock

    def claim(self, intent: SendEmail, now_s: float, lease_until_s: float) -> Claim:
        token = secrets.token_hex(8)
        key = claim_key(intent)
        try:
            self._client.put_item(
                TableName=self._table_name,
                Item={
                    "id": {"S": key},
                    "holder": {"S": token},
                    "lease_until": {"N": str(math.ceil(lease_until_s))},
                    "expiration": {"N": str(int(now_s) + IDEMPOTENCY_WINDOW_S)},
                },
                ConditionExpression=_CLAIM_CONDITION,
                ExpressionAttributeNames={
                    "#id": "id",
                    "#expiration": "expiration",
                    "#delivery": "delivery_id",
                    "#lease": "lease_until",
                },
                ExpressionAttributeValues={":now": {"N": str(int(now_s))}},
                # The claim in the way comes back with the failure: no second read to learn its state.
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != CONDITION_FAILED:
                raise
            return self._existing(key, token, error.response.get("Item"))
        return Claimed(token)

    def _existing(self, key: str, token: str, item: dict[str, Any] | None) -> Claim:
        if not item:
            found = self._client.get_item(
                TableName=self._table_name, Key={"id": {"S": key}}, ConsistentRead=True
            )
            item = found.get("Item")
        if not item:  # deleted between the put and the read (released, or TTL): the next receive claims it
            return Held(self._clock())
        if "delivery_id" in item:
            return AlreadySent(item["delivery_id"]["S"])
        if item.get("holder", {}).get("S") == token:
            return Claimed(token)  # our own put landed and botocore retried it (its answer was lost)
        return Held(float(item.get("lease_until", {}).get("N", "0")))

    def record_sent(self, intent: SendEmail, delivery_id: str) -> None:
        """Unconditional: whoever holds the claim now, this intent was sent (and retrying is harmless)."""
        self._client.update_item(
            TableName=self._table_name,
            Key={"id": {"S": claim_key(intent)}},
            UpdateExpression="SET #delivery = :delivery, #expiration = :expiration",
            ExpressionAttributeNames={"#delivery": "delivery_id", "#expiration": "expiration"},
            ExpressionAttributeValues={
                ":delivery": {"S": delivery_id},
                ":expiration": {"N": str(int(self._clock()) + IDEMPOTENCY_WINDOW_S)},
            },
        )

    def release(self, intent: SendEmail, token: str) -> None:
        """Only this holder's claim, and never one that records a delivery."""
        try:
            self._client.delete_item(
                TableName=self._table_name,
                Key={"id": {"S": claim_key(intent)}},
                ConditionExpression="#holder = :token AND attribute_not_exists(#delivery)",
                ExpressionAttributeNames={"#holder": "holder", "#delivery": "delivery_id"},
                ExpressionAttributeValues={":token": {"S": token}},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != CONDITION_FAILED:
                raise
