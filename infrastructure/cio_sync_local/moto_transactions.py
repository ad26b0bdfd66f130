"""moto's DynamoDB TransactWriteItems made isolated and cheap, as DynamoDB's is.

The import mutes a member and records the outcome in one TransactWriteItems (adapters/import_storage). moto
implements that call by deep-copying every table it touches, applying the items one by one, and putting the
copies back when a condition fails. That differs from DynamoDB in two ways the import would trip over:
* cost: the copy grows with the tables (half a second a transaction with 10,000 members and 10,000 claims),
  so a 10,000-row import, which `make bench` runs, would take over an hour;
* isolation: nothing stops another request meanwhile (the chunk function mutes on ten threads, and moto
  server serves requests on threads), so the copy fails ("dictionary changed size during iteration"), or
  the restore silently undoes a write that another request made in between.
DynamoDB checks every condition before it writes anything, applies all or nothing, and no other write to
those items lands in between. `install()` makes moto do the same: one lock held by every DynamoDB write of
the backend (put, update, delete, and so batch writes), and a transaction that checks all its conditions
first, under that lock, then applies. A cancelled transaction writes nothing and so leaves no stream record.

Installed by the local stack's moto server child and by in-process tests that run the import against moto.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable
from typing import Any, Final

_LOCK: Final = threading.RLock()
_MARK: Final = "_cio_sync_isolated"
MAX_ITEMS: Final = 100
_OPERATIONS: Final = frozenset({"ConditionCheck", "Put", "Delete", "Update"})


def install() -> None:
    """Patch moto's DynamoDB backend class (idempotent; affects every backend in this process)."""
    from moto.dynamodb.models import DynamoDBBackend  # noqa: PLC0415 - moto is a test/local dependency

    if getattr(DynamoDBBackend.transact_write_items, _MARK, False):
        return
    for name in ("put_item", "update_item", "delete_item"):
        setattr(DynamoDBBackend, name, _serialised(getattr(DynamoDBBackend, name)))
    isolated: Any = _transact_write_items
    setattr(isolated, _MARK, True)
    setattr(DynamoDBBackend, "transact_write_items", isolated)  # noqa: B010 - mypy refuses a method assignment


def _serialised(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(self, *args, **kwargs)

    return locked


def _transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb.comparisons import get_filter_expression  # noqa: PLC0415
    from moto.dynamodb.exceptions import (  # noqa: PLC0415
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > MAX_ITEMS:
        raise TooManyTransactionsException()
    with _LOCK:
        targets: list[tuple[str, dict[str, Any], Any]] = []
        seen: set[tuple[str, str]] = set()
        reasons: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
        for entry in transact_items:
            if len(entry) > 1:
                raise TransactWriteSingleOpException
            kind, operation = next(iter(entry.items()))
            if kind not in _OPERATIONS:
                raise ValueError("Unsupported transaction operation")
            table = backend.get_table(operation["TableName"])
            key = _key_of(table, kind, operation)
            marker = (table.name, str(dict(sorted(key.items()))))
            if marker in seen:
                raise MultipleTransactionsException()
            seen.add(marker)
            current = backend.get_item(operation["TableName"], key)
            targets.append((operation["TableName"], key, copy.deepcopy(current)))
            condition = operation.get("ConditionExpression")
            holds = condition is None or get_filter_expression(
                condition,
                operation.get("ExpressionAttributeNames"),
                operation.get("ExpressionAttributeValues"),
            ).expr(current)
            if holds:
                reasons.append((None, None, None))
                continue
            old = None
            if operation.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current is not None:
                old = current.to_json()["Attributes"]
            reasons.append(("ConditionalCheckFailed", "The conditional request failed", old))
        if any(code is not None for code, _, _ in reasons):
            raise TransactionCanceledException(reasons)
        for index, entry in enumerate(transact_items):
            try:
                _apply(backend, *next(iter(entry.items())))
            except Exception as error:
                # An item DynamoDB would have refused at validation (moto checks some only while writing):
                # put back what the earlier items wrote, and cancel, as moto itself does.
                _restore(backend, targets[:index])
                failed: list[tuple[str | None, str | None, dict[str, Any] | None]] = [
                    (None, None, None) for _ in transact_items
                ]
                failed[index] = (type(error).__name__, str(error), None)
                raise TransactionCanceledException(failed) from error


def _key_of(table: Any, kind: str, operation: dict[str, Any]) -> dict[str, Any]:
    if kind != "Put":
        return dict(operation["Key"])
    item = operation["Item"]
    key = {table.hash_key_attr: item[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = item[table.range_key_attr]
    return key


def _apply(backend: Any, kind: str, operation: dict[str, Any]) -> None:
    """Write one item of a transaction whose conditions all hold (the lock keeps them holding)."""
    table_name = operation["TableName"]
    names = operation.get("ExpressionAttributeNames")
    values = operation.get("ExpressionAttributeValues")
    if kind == "Put":
        backend.put_item(table_name, operation["Item"])
    elif kind == "Delete":
        backend.delete_item(table_name, operation["Key"])
    elif kind == "Update":
        backend.update_item(
            table_name,
            operation["Key"],
            update_expression=operation["UpdateExpression"],
            expression_attribute_names=names,
            expression_attribute_values=values,
        )


def _restore(backend: Any, targets: list[tuple[str, dict[str, Any], Any]]) -> None:
    """Put items back as they were, in the table's storage (a restore is not a change: no stream record)."""
    for table_name, key, before in targets:
        table = backend.get_table(table_name)
        hash_key, range_key = backend.get_keys_value(table, key)
        if table.has_range_key:
            bucket = table.items[hash_key]
            if before is None:
                bucket.pop(range_key, None)
            else:
                bucket[range_key] = before
        elif before is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = before
