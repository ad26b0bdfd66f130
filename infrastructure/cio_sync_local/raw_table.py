"""Writes as another service makes them: straight to the member table, no rules, no contract.

The soak, the bench and the pipeline tests all play that other service; one helper shapes the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from boto3.dynamodb.types import TypeSerializer

_SERIALIZER = TypeSerializer()


def raw_update(dynamodb: Any, table: str, member_id: str, changes: Mapping[str, Any]) -> None:
    """SET each of `changes` on the item (creating it if absent, as UpdateItem does)."""
    names = list(changes)
    dynamodb.update_item(
        TableName=table,
        Key={"id": {"S": member_id}},
        UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(names))),
        ExpressionAttributeNames={f"#f{i}": name for i, name in enumerate(names)},
        ExpressionAttributeValues={
            f":v{i}": _SERIALIZER.serialize(changes[name]) for i, name in enumerate(names)
        },
    )
