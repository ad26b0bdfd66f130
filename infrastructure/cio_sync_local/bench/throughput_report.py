"""Phase 7 (the in-process throughput) in the report: its table rows, its targets, its part of results.json.

Pure, like report.py, which calls these three. The figures are measured by bench/throughput.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

# CPU per KB of item at 100 KB at most this many times that at 10 KB: linear work gives about 1 (less, as
# the fixed cost per record spreads); work that grows with the square of the size gives about 10.
MAX_PER_KB_RATIO: Final = 1.5
# CPU per realistic record, about three times what each function needed when the targets were set
# (2026-12, 2 CPUs): a regression of that size fails the bench.
MAX_REALISTIC_CPU_US: Final = {"member_stream": 1000.0, "track": 300.0, "import_chunk": 200.0}
NAMES: Final = {"member_stream": "member-stream", "track": "track", "import_chunk": "import-chunk"}

_NUMBER: Final = {"type": "number", "minimum": 0}
_MEASURE: Final = {
    "type": "object",
    "required": ["item_bytes", "records", "records_per_s", "cpu_us_per_record"],
    "properties": {"cpu_us_per_record": _NUMBER},
}
THROUGHPUT_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": list(NAMES),
    "additionalProperties": {
        "type": "object",
        "required": ["realistic", "maximal", "by_size", "per_kb_ratio_100_to_10"],
        "properties": {
            "realistic": _MEASURE,
            "maximal": {
                **_MEASURE,
                "required": [*_MEASURE["required"], "full_batch_records", "full_batch_cpu_s"],
            },
            "by_size": {"type": "array", "minItems": 3, "maxItems": 3, "items": _MEASURE},
            "per_kb_ratio_100_to_10": _NUMBER,
        },
    },
}


def _cpu(us: float) -> str:
    return f"{us:,.0f} us" if us < 10_000 else f"{us / 1000:,.1f} ms"


def throughput_rows(results: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    figures = results.get("throughput")
    if figures is None:
        return []
    rows: list[tuple[str, str, str]] = []
    for key, name in NAMES.items():
        function = figures[key]
        realistic, maximal = function["realistic"], function["maximal"]
        per_kb = ", ".join(
            f"{row['item_bytes'] // 1000} KB {row['cpu_us_per_kb']:.1f}" for row in function["by_size"]
        )
        rows += [
            (
                f"7. {name} in process, realistic items ({realistic['item_bytes']:,} B)",
                f"{_cpu(realistic['cpu_us_per_record'])} CPU a record ({realistic['records_per_s']:,}/s)",
                f"target <= {_cpu(MAX_REALISTIC_CPU_US[key])}",
            ),
            (
                f"   maximal items ({maximal['item_bytes'] // 1000} KB)",
                f"{_cpu(maximal['cpu_us_per_record'])} CPU a record; a full batch "
                f"({maximal['full_batch_records']:,}) {maximal['full_batch_cpu_s']:g} s",
                "no target; compare the function's Timeout (template.yaml)",
            ),
            (
                "   CPU us per KB of item (1, 10, 100 KB)",
                f"{per_kb}; 100/10 ratio {function['per_kb_ratio_100_to_10']:.2f}",
                f"linear: ratio <= {MAX_PER_KB_RATIO:g}",
            ),
        ]
    return rows


def throughput_misses(results: Mapping[str, Any]) -> list[str]:
    figures = results.get("throughput")
    if figures is None:
        return []
    misses: list[str] = []
    for key, name in NAMES.items():
        function = figures[key]
        ratio = function["per_kb_ratio_100_to_10"]
        if ratio > MAX_PER_KB_RATIO:
            misses.append(
                f"throughput: {name}'s CPU per KB at 100 KB is {ratio:.2f} x that at 10 KB "
                f"(target <= {MAX_PER_KB_RATIO:g}: linear in the item's size)"
            )
        cpu = function["realistic"]["cpu_us_per_record"]
        if cpu > MAX_REALISTIC_CPU_US[key]:
            misses.append(
                f"throughput: {name} {_cpu(cpu)} CPU a realistic record "
                f"(target <= {_cpu(MAX_REALISTIC_CPU_US[key])})"
            )
    return misses
