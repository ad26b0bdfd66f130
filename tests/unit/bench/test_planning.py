from cio_sync.imports.plan import PlanLimits, survey
from cio_sync_local.bench.planning import measure_planning, synthetic_import_file


def test_the_benchmark_entry_point_plans_every_row() -> None:
    measured = measure_planning(20_000)
    assert measured.rows == 20_000
    assert measured.chunks >= 20_000 // 1000
    assert measured.rows_per_second > 0
    assert measured.peak_traced_bytes is None


def test_the_synthetic_file_is_a_valid_import_file() -> None:
    limits = PlanLimits(max_bytes=10_000_000)
    assert survey(synthetic_import_file(2500, block_rows=1000, invalid_every=10), limits).invalid == 250
