"""Powertools idempotency records in DynamoDB through a botocore client.

Powertools' own DynamoDB layer imports boto3, which the email function otherwise never loads. This layer
keeps Powertools' record format (`DynamoDBPersistenceLayer`'s defaults: a simple key `id`, the same
attribute names, types and conditions), so records written by either honour each other.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, Final

from botocore.exceptions import ClientError

from cio_sync.adapters.powertools_idempotency import (
    STATUS_CONSTANTS,
    BasePersistenceLayer,
    DataRecord,
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
    IdempotencyValidationError,
)

KEY: Final = "id"
EXPIRY: Final = "expiration"  # unix seconds, the table's TTL attribute
IN_PROGRESS_EXPIRY: Final = "in_progress_expiration"  # unix milliseconds: the holding invocation's end
STATUS: Final = "status"
DATA: Final = "data"
VALIDATION: Final = "validation"

# A new in-progress record may replace no record, an expired one, or an in-progress one whose invocation
# has ended (a crashed send): Powertools' condition, word for word.
PUT_CONDITION: Final = (
    "attribute_not_exists(#id) OR #expiry < :now OR "
    "(#status = :inprogress AND attribute_exists(#in_progress_expiry)"
    " AND #in_progress_expiry < :now_in_millis)"
)


class BotocorePersistenceLayer(BasePersistenceLayer):
    """Powertools' `DynamoDBPersistenceLayer(table_name)`, on any botocore DynamoDB client."""

    def __init__(self, client: Any, table_name: str) -> None:
        # Powertools' BasePersistenceLayer.__init__ has no annotations, so strict mypy flags any call to it.
        super().__init__()  # type: ignore[no-untyped-call]
        self._client = client
        self.table_name = table_name

    def _get_record(self, idempotency_key: str) -> DataRecord:
        response = self._client.get_item(
            TableName=self.table_name, Key=_key(idempotency_key), ConsistentRead=True
        )
        if "Item" not in response:
            raise IdempotencyItemNotFoundError
        return _record_of(response["Item"])

    def _put_record(self, data_record: DataRecord) -> None:
        item = {
            **_key(data_record.idempotency_key),
            EXPIRY: {"N": str(data_record.expiry_timestamp)},
            STATUS: {"S": data_record.status},
        }
        if data_record.in_progress_expiry_timestamp is not None:
            item[IN_PROGRESS_EXPIRY] = {"N": str(data_record.in_progress_expiry_timestamp)}
        if self.payload_validation_enabled and data_record.payload_hash:
            item[VALIDATION] = {"S": data_record.payload_hash}
        now = time.time()
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression=PUT_CONDITION,
                ExpressionAttributeNames={
                    "#id": KEY,
                    "#expiry": EXPIRY,
                    "#in_progress_expiry": IN_PROGRESS_EXPIRY,
                    "#status": STATUS,
                },
                ExpressionAttributeValues={
                    ":now": {"N": str(int(now))},
                    ":now_in_millis": {"N": str(int(now * 1000))},
                    ":inprogress": {"S": STATUS_CONSTANTS["INPROGRESS"]},
                },
                # The record in the way comes back with the failure: no second read to find its status.
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            self._already_exists(data_record, exc)

    def _already_exists(self, data_record: DataRecord, exc: ClientError) -> None:
        """Raises what Powertools' layer raises when the put's condition fails."""
        if "Item" not in exc.response:
            raise IdempotencyItemAlreadyExistsError from exc
        old = _record_of(exc.response["Item"])
        try:
            self._validate_payload(data_payload=data_record, stored_data_record=old)
            self._save_to_cache(data_record=old)
        except IdempotencyValidationError as mismatch:
            raise mismatch from exc
        raise IdempotencyItemAlreadyExistsError(old_data_record=old) from exc

    def _update_record(self, data_record: DataRecord) -> None:
        expression = "SET #response_data = :response_data, #expiry = :expiry, #status = :status"
        names = {"#expiry": EXPIRY, "#response_data": DATA, "#status": STATUS}
        values: dict[str, Any] = {
            ":expiry": {"N": str(data_record.expiry_timestamp)},
            ":response_data": {"S": data_record.response_data},
            ":status": {"S": data_record.status},
        }
        if self.payload_validation_enabled:
            expression += ", #validation_key = :validation_key"
            values[":validation_key"] = {"S": data_record.payload_hash}
            names["#validation_key"] = VALIDATION
        self._client.update_item(
            TableName=self.table_name,
            Key=_key(data_record.idempotency_key),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def _delete_record(self, data_record: DataRecord) -> None:
        self._client.delete_item(TableName=self.table_name, Key=_key(data_record.idempotency_key))


def _key(idempotency_key: str) -> dict[str, Any]:
    return {KEY: {"S": idempotency_key}}


_READ: Final = frozenset({KEY, STATUS, EXPIRY, IN_PROGRESS_EXPIRY, DATA, VALIDATION})


def _record_of(item: dict[str, Any]) -> DataRecord:
    """An item as Powertools' layer reads it. A missing `data` or `validation` is "" (DataRecord's default;
    Powertools passes None, which every use of the two treats alike: falsy, and equal to no hash)."""
    values = {name: _value(name, attribute) for name, attribute in item.items() if name in _READ}
    return DataRecord(
        idempotency_key=values[KEY],
        status=values[STATUS],
        expiry_timestamp=values[EXPIRY],
        in_progress_expiry_timestamp=values.get(IN_PROGRESS_EXPIRY),
        response_data=values.get(DATA) or "",
        payload_hash=values.get(VALIDATION) or "",
    )


def _value(name: str, attribute: dict[str, Any]) -> Any:
    """The types these records use. Timestamps are integers (both layers write `str(int)`); a number of
    another shape reads as Powertools reads it (a Decimal), and NULL as None, so a record some other writer
    left is judged as Powertools would judge it, never refused."""
    if "S" in attribute:
        return attribute["S"]
    if "N" in attribute:
        number = attribute["N"]
        return int(number) if number.lstrip("-").isdigit() else Decimal(number)
    if attribute.get("NULL") is True:
        return None
    raise ValueError(f"idempotency record attribute {name} has type {sorted(attribute)}, not S, N or NULL")
