"""`cio-sync imports check FILE`: what the import would make of a CSV, offline, before anyone uploads it.

It reads the file with the import's own parser (cio_sync.imports.rows) and limit, so a file it accepts is
one the import accepts, and the row numbers and reasons it prints are the ones the report would give.
Whether each member exists is not known offline: a valid id may still end up `not_found`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cio_sync.imports.rows import FileRejected, checked_rows

# template.yaml's IMPORT_MAX_BYTES for the import-file function (tests/infra checks they agree).
DEFAULT_MAX_BYTES: Final = 536_870_912
READ_BYTES: Final = 1 << 16
SHOWN_INVALID: Final = 20


@dataclass
class FileCheck:
    rows: int = 0
    member_ids: int = 0
    duplicates: int = 0
    invalid: list[dict[str, Any]] = field(default_factory=list)

    def summary(self, name: str) -> str:
        return (
            f"{name}: would be imported: {self.rows} rows, {self.member_ids} distinct member ids, "
            f"{self.duplicates} duplicate, {len(self.invalid)} invalid"
        )

    def lines(self, name: str) -> Iterator[str]:
        yield self.summary(name)
        for row in self.invalid[:SHOWN_INVALID]:
            yield f"  row {row['row']}: {row['reason']} ({row['northstar_id']!r})"
        if len(self.invalid) > SHOWN_INVALID:
            yield f"  ... {len(self.invalid) - SHOWN_INVALID} more invalid rows (--json lists them all)"

    def to_json(self, name: str) -> str:
        counts = {"rows": self.rows, "member_ids": self.member_ids, "duplicates": self.duplicates}
        return json.dumps({"file": name, "accepted": True, **counts, "invalid": self.invalid}, sort_keys=True)


def check_file(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> FileCheck:
    """Every row through the import's parser; FileRejected when the import would reject the whole file."""
    check = FileCheck()
    seen: set[str] = set()
    with path.open("rb") as file:
        chunks = iter(lambda: file.read(READ_BYTES), b"")
        for number, member_id, shown, reason in checked_rows(chunks, max_bytes):
            check.rows += 1
            if member_id is None:
                check.invalid.append({"row": number, "northstar_id": shown, "reason": reason})
            elif member_id in seen:
                check.duplicates += 1
            else:
                seen.add(member_id)
    check.member_ids = len(seen)
    return check


def rejection_json(name: str, error: FileRejected) -> str:
    return json.dumps({"file": name, "accepted": False, "reason": error.reason}, sort_keys=True)
