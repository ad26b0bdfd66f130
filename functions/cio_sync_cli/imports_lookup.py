"""What the imports bucket says about an import id: its report, its upload, its rejected rows.

An import id is derived from the upload (bucket, key, ETag: cio_sync.imports.report.import_id_for), so
before its report exists the id can only be recognised by finding the upload that hashes to it. For an
object put in one request to a bucket encrypted with S3's own keys (the template's), the ETag is the MD5
of the bytes, which lets `imports upload` know a file's id before it uploads it.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Final

from botocore.exceptions import ClientError

from cio_sync.imports.report import (
    UPLOAD_PREFIX,
    ImportReport,
    MalformedReport,
    import_id_for,
    rejected_csv_key,
    report_key,
)
from cio_sync_cli.errors import CommandError

IMPORT_ID: Final = re.compile(r"[0-9a-f]{16}")
BAD_ID: Final = "not an import id: expected the 16 hexadecimal characters `cio-sync imports upload` printed"
_MISSING: Final = ("NoSuchKey", "404")


def checked_import_id(import_id: str) -> str:
    if not IMPORT_ID.fullmatch(import_id):
        raise CommandError(BAD_ID)
    return import_id


def read_report(client: Any, bucket: str, import_id: str) -> ImportReport | None:
    body = _read(client, bucket, report_key(import_id))
    if body is None:
        return None
    try:
        return ImportReport.from_json(body)
    except MalformedReport as error:
        raise CommandError(f"the report of import {import_id} is malformed: {error}") from None


def read_rejected(client: Any, bucket: str, import_id: str) -> str | None:
    body = _read(client, bucket, rejected_csv_key(import_id))
    return None if body is None else body.decode("utf-8")


def find_upload(client: Any, bucket: str, import_id: str) -> str | None:
    """The key of the upload whose import this is, or None (a mistyped id, or an upload since expired)."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=UPLOAD_PREFIX):
        for item in page.get("Contents", []):
            if import_id_for(bucket, item["Key"], str(item["ETag"])) == import_id:
                return str(item["Key"])
    return None


def import_id_of_file(bucket: str, key: str, path: Path) -> str:
    """The id an upload of `path` to `key` will get (its ETag is the MD5 of the bytes, see above)."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return import_id_for(bucket, key, digest.hexdigest())


def unknown(import_id: str, bucket: str) -> CommandError:
    return CommandError(
        f"unknown import {import_id}: no report, and no upload in s3://{bucket}/{UPLOAD_PREFIX} has this "
        "id (mistyped, or its upload expired)"
    )


def _read(client: Any, bucket: str, key: str) -> bytes | None:
    try:
        body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _MISSING:
            return None
        raise
    return body
