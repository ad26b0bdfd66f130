"""The import's storage adapters: the upload in S3, reports and parts in S3, the row claims in DynamoDB.

(The FIFO chunk queue is with the other queues, in cio_sync.adapters.sqs.)

The functions may read only `mute-promotions/` and read, write and list only `reports/` (template.yaml):
nothing here touches another prefix.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, cast

from botocore.exceptions import ClientError

from cio_sync.imports.chunk import Claim
from cio_sync.imports.keys import parts_prefix, rejected_csv_key, report_key
from cio_sync.imports.outcomes import OUTCOMES, Outcome
from cio_sync.imports.report import ImportReport, ImportSource, Part
from cio_sync.imports.settle import StoredReport
from cio_sync.imports.text_lines import FileRejected

READ_CHUNK_BYTES: Final = 1 << 20
# Claims outlive any import (chunks are retried for at most days) and then expire by TTL.
CLAIM_TTL_SECONDS: Final = 30 * 24 * 3600
CLAIM_PREFIX: Final = "mute-import"
# The rejected-rows CSV stays in memory up to this size, then spills to /tmp until it is uploaded.
SPOOL_BYTES: Final = 16 * 1024 * 1024

_MISSING_CODES: Final = frozenset({"NoSuchKey", "NoSuchVersion", "404"})
_DENIED_CODES: Final = frozenset({"AccessDenied", "403"})
_CONFLICT_CODES: Final = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
CONDITION_FAILED: Final = "ConditionalCheckFailedException"


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class S3Uploads:
    """Reads an uploaded file as a stream of byte chunks, pinned to the version or ETag the event named."""

    def __init__(self, client: Any, chunk_bytes: int = READ_CHUNK_BYTES) -> None:
        self._client = client
        self._chunk_bytes = chunk_bytes

    def reader(self, source: ImportSource) -> Callable[[], Iterator[bytes]]:
        """A function that opens the object afresh each time it is called (the planner reads it twice)."""

        def read() -> Iterator[bytes]:
            request: dict[str, str] = {"Bucket": source.bucket, "Key": source.key}
            if source.version_id:
                request["VersionId"] = source.version_id
            else:
                request["IfMatch"] = source.etag
            try:
                body = self._client.get_object(**request)["Body"]
            except ClientError as error:
                code = _code(error)
                if code in _MISSING_CODES:
                    raise FileRejected("the uploaded file no longer exists") from None
                if code in _CONFLICT_CODES:
                    raise FileRejected(
                        "the file was replaced by a newer upload before it could be read"
                    ) from None
                raise
            try:
                yield from body.iter_chunks(self._chunk_bytes)
            finally:
                body.close()

        return read


class S3ReportStore:
    """Reports and parts as S3 objects under `reports/mute-promotions/` (see cio_sync.imports.report)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def read_report(self, import_id: str) -> ImportReport | None:
        stored = self.read_stored_report(import_id)
        return None if stored is None else stored.report

    def read_stored_report(self, import_id: str) -> StoredReport | None:
        found = self._get(report_key(import_id))
        return None if found is None else StoredReport(ImportReport.from_json(found[0]), found[1])

    def create_report(self, report: ImportReport) -> bool:
        """PUT with If-None-Match: *: False when a report exists already, or is being written right now."""
        return self._put_report(report, {"IfNoneMatch": "*"})

    def replace_report(self, report: ImportReport, etag: str) -> bool:
        """PUT with If-Match: the ETag read: False when the report changed since, or is being written."""
        return self._put_report(report, {"IfMatch": etag})

    def _put_report(self, report: ImportReport, condition: dict[str, str]) -> bool:
        try:
            self._put(report_key(report.import_id), report.to_json().encode(), "application/json", condition)
        except ClientError as error:
            # 412 PreconditionFailed, or 409 ConditionalRequestConflict while another conditional write of the
            # same key is in progress: either way another writer got there first; the caller reads again.
            if _code(error) in _CONFLICT_CODES:
                return False
            raise
        return True

    def read_part(self, import_id: str, name: str) -> Part | None:
        found = self._get(f"{parts_prefix(import_id)}{name}.json")
        return None if found is None else Part.from_json(found[0])

    def write_part(self, import_id: str, part: Part) -> None:
        self._put(f"{parts_prefix(import_id)}{part.name}.json", part.to_json().encode(), "application/json")

    def part_names(self, import_id: str) -> set[str]:
        prefix = parts_prefix(import_id)
        names: set[str] = set()
        for page in self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=prefix
        ):
            for entry in page.get("Contents", []):
                key = str(entry["Key"])
                if key.endswith(".json"):
                    names.add(key[len(prefix) : -len(".json")])
        return names

    def write_rejected_csv(self, import_id: str, lines: Iterable[str]) -> None:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            for line in lines:
                spool.write(line.encode())
            spool.seek(0)
            self._client.put_object(
                Bucket=self._bucket,
                Key=rejected_csv_key(import_id),
                Body=spool,
                ContentType="text/csv; charset=utf-8",
            )

    def _get(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, or None when there is no such object."""
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            code = _code(error)
            if code in _MISSING_CODES:
                return None
            # S3 answers 403, not 404, for a missing key unless s3:ListBucket applies to the request, and the
            # functions' ListBucket is limited to the reports/ prefix (a GET carries no prefix): ask a list.
            if code in _DENIED_CODES and not self._exists(key):
                return None
            raise
        body = response["Body"]
        try:
            return bytes(body.read()), str(response["ETag"])
        finally:
            body.close()

    def _exists(self, key: str) -> bool:
        listed = self._client.list_objects_v2(Bucket=self._bucket, Prefix=key, MaxKeys=1)
        return any(entry.get("Key") == key for entry in listed.get("Contents", []))

    def _put(self, key: str, body: bytes, content_type: str, condition: dict[str, str] | None = None) -> None:
        request: dict[str, Any] = {
            "Bucket": self._bucket,
            "Key": key,
            "Body": body,
            "ContentType": content_type,
            **(condition or {}),
        }
        self._client.put_object(**request)


class DynamoRowClaims:
    """Claims in the idempotency table: `mute-import#<import>#<member>` held by the first row to claim it.

    An item holds the claiming row, once decided its outcome, and a TTL: ids and outcomes, no personal data.
    A mute is one TransactWriteItems of the member's conditional update and the claim's conditional put, so
    the member is muted exactly when the claim says "muted": no crash can separate the two, and a redelivered
    chunk finds the outcome and writes no member again. (Put and Update in a transaction are authorised as
    PutItem and UpdateItem, which the function already holds on these tables.)
    """

    def __init__(
        self,
        client: Any,
        table_name: str,
        mute_request: Callable[[str, str], dict[str, Any]],
        restamp_request: Callable[[str, str, str], dict[str, Any]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._table_name = table_name
        self._mute_request = mute_request
        self._restamp_request = restamp_request
        self._clock = clock

    def mute(self, import_id: str, member_id: str, row: int, mute_at: str) -> Claim:
        return self._write_with_claim(
            import_id, member_id, row, self._mute_request(member_id, mute_at), "muted"
        )

    def restamp(self, import_id: str, member_id: str, row: int, mute_at: str, seen_muted_at: str) -> Claim:
        update = self._restamp_request(member_id, mute_at, seen_muted_at)
        return self._write_with_claim(import_id, member_id, row, update, "already_muted")

    def _write_with_claim(
        self, import_id: str, member_id: str, row: int, update: dict[str, Any], outcome: Outcome
    ) -> Claim:
        """The member's update and the row's claim with its outcome: both or neither."""
        key = _claim_key(import_id, member_id)
        try:
            self._client.transact_write_items(
                TransactItems=[{"Update": update}, {"Put": self._claim_put(key, row, outcome)}]
            )
        except ClientError as error:
            if _code(error) != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []
            member_reason, claim_reason = [*reasons, {}, {}][:2]
            if claim_reason.get("Code") == "ConditionalCheckFailed":
                return self._stored_claim(key, claim_reason.get("Item"))
            if member_reason.get("Code") == "ConditionalCheckFailed":
                return Claim(row)  # the member is not as the update required: nothing was written
            raise  # e.g. TransactionConflict with a concurrent write: the chunk is retried
        return Claim(row, outcome)

    def record(self, import_id: str, member_id: str, row: int, outcome: Outcome) -> Claim:
        key = _claim_key(import_id, member_id)
        try:
            self._client.put_item(**self._claim_put(key, row, outcome))
        except ClientError as error:
            if _code(error) != CONDITION_FAILED:
                raise
            return self._stored_claim(key, error.response.get("Item"))
        return Claim(row, outcome)

    def _claim_put(self, key: str, row: int, outcome: Outcome) -> dict[str, Any]:
        """Take a free id, or decide this row's own undecided claim (a row claimed before outcomes existed,
        or by an attempt that stopped before deciding); never another row's claim, never a decided one."""
        return {
            "TableName": self._table_name,
            "Item": {
                "id": {"S": key},
                "claimed_row": {"N": str(row)},
                "outcome": {"S": outcome},
                "expiration": {"N": str(int(self._clock()) + CLAIM_TTL_SECONDS)},
            },
            "ConditionExpression": (
                "attribute_not_exists(#id) OR (#row = :row AND attribute_not_exists(#outcome))"
            ),
            "ExpressionAttributeNames": {"#id": "id", "#row": "claimed_row", "#outcome": "outcome"},
            "ExpressionAttributeValues": {":row": {"N": str(row)}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _stored_claim(self, key: str, item: dict[str, Any] | None = None) -> Claim:
        """The claim that made a condition fail: another row's, or this row's with its outcome."""
        if not item:
            found = self._client.get_item(
                TableName=self._table_name, Key={"id": {"S": key}}, ConsistentRead=True
            )
            item = found.get("Item")
        if not item or "claimed_row" not in item:
            raise RuntimeError("a row claim vanished while it was being decided")
        holder = int(item["claimed_row"]["N"])
        outcome = item.get("outcome", {}).get("S")
        if outcome is None:
            return Claim(holder)
        if outcome not in OUTCOMES:
            raise RuntimeError(f"a row claim records an unknown outcome: {str(outcome)[:32]!r}")
        return Claim(holder, cast(Outcome, outcome))


def _claim_key(import_id: str, member_id: str) -> str:
    return f"{CLAIM_PREFIX}#{import_id}#{member_id}"
