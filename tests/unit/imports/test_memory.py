"""Planning memory does not grow with the file: only the partition buffers are held."""

from __future__ import annotations

from cio_sync.imports.plan import PlanLimits
from cio_sync_local.bench.planning import measure_planning


def test_planning_three_times_the_rows_needs_no_more_memory() -> None:
    # Small buffers (4 partitions x 100 rows) fill early and the synthetic file comes in 500-row blocks, so
    # both sizes are past the point where the peak stops growing; anything held per row would triple it.
    limits = PlanLimits(max_bytes=1 << 40, partitions=4, chunk_rows=100)
    small = measure_planning(4_000, trace_memory=True, limits=limits, block_rows=500)
    large = measure_planning(12_000, trace_memory=True, limits=limits, block_rows=500)
    assert small.peak_traced_bytes is not None
    assert large.peak_traced_bytes is not None
    assert large.chunks > 2.5 * small.chunks
    assert large.peak_traced_bytes < small.peak_traced_bytes * 1.1
