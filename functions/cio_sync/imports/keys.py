"""Where an import's objects live in the bucket, and the id that names an import.

Layout under the bucket's `reports/mute-promotions/` prefix (the function may write nothing else):
  <import-id>.json               the report: status processing|completed|rejected, counts, progress, times
  <import-id>.rejected.csv       row,northstar_id,outcome,reason for every row not muted (completed imports)
  <import-id>/parts/<name>.json  one per chunk (`chunk-000042`) or block of invalid rows (`planner-000000`)
"""

from __future__ import annotations

import hashlib
from typing import Final

UPLOAD_PREFIX: Final = "mute-promotions/"
DRY_RUN_PREFIX: Final = "mute-promotions/dry-run/"
REPORT_PREFIX: Final = "reports/mute-promotions/"


def report_key(import_id: str) -> str:
    return f"{REPORT_PREFIX}{import_id}.json"


def rejected_csv_key(import_id: str) -> str:
    return f"{REPORT_PREFIX}{import_id}.rejected.csv"


def parts_prefix(import_id: str) -> str:
    return f"{REPORT_PREFIX}{import_id}/parts/"


def chunk_part_name(chunk: int) -> str:
    return f"chunk-{chunk:06d}"


def planner_part_name(index: int) -> str:
    return f"planner-{index:06d}"


def import_id_for(bucket: str, key: str, etag: str) -> str:
    """Same object, same import: the id is derived from where the object is and what it holds.

    The ETag (quotes stripped) rather than the version id, because both the upload response and every
    S3 notification carry it (moto's notifications carry no versionId). Re-uploading identical bytes under
    the same key is therefore the same import (a no-op); a new key, or new content, is a new import.
    """
    seed = "\n".join((bucket, key, etag.strip('"')))
    return hashlib.sha256(seed.encode()).hexdigest()[:16]
