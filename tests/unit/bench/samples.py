"""Parts of results.json as a run writes them: phase 7's (figures of a real run's shape) and the cost,
recorded from `python -m cio_sync_local.bench --cost-only`'s figures (recorded_cost.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _function(realistic_us: float, maximal_us: float, batch: int, per_kb: tuple[float, float, float]) -> Any:
    sizes = [
        {
            "item_bytes": kb * 1000,
            "records": 100,
            "records_per_s": round(1e6 / (us * kb)),
            "cpu_us_per_record": us * kb,
            "cpu_us_per_kb": us,
        }
        for kb, us in zip((1, 10, 100), per_kb, strict=True)
    ]
    return {
        "realistic": {
            "item_bytes": 647,
            "records": 2000,
            "records_per_s": round(1e6 / realistic_us),
            "cpu_us_per_record": realistic_us,
        },
        "maximal": {
            "item_bytes": 390000,
            "records": 25,
            "records_per_s": round(1e6 / maximal_us),
            "cpu_us_per_record": maximal_us,
            "full_batch_records": batch,
            "full_batch_cpu_s": round(maximal_us * batch / 1e6, 2),
        },
        "by_size": sizes,
        "per_kb_ratio_100_to_10": round(per_kb[2] / per_kb[1], 3),
    }


def throughput() -> dict[str, Any]:
    return {
        "member_stream": _function(310.9, 109801.1, 7, (449.1, 326.52, 288.45)),
        "track": _function(82.0, 56764.1, 1000, (152.0, 158.61, 151.15)),
        "import_chunk": _function(40.6, 45.0, 1000, (44.2, 5.87, 0.6)),
    }


def cost() -> dict[str, Any]:
    recorded: dict[str, Any] = json.loads((Path(__file__).parent / "recorded_cost.json").read_text("utf-8"))
    return recorded
