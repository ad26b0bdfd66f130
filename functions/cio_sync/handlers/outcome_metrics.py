"""One way from a flow's outcome to CloudWatch: each handler's table names the metrics each count feeds.

Every metric of a table is published on each call (0 included), once, so a quiet function still shows
a flat line rather than no data. The sync lag (SyncLagMs) is one value per intent Customer.io accepted:
the dashboard's p50 and p99 and the freshness alarm are over intents, not invocations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aws_lambda_powertools.metrics import MetricUnit

from cio_sync.observability import metrics

SYNC_LAG_METRIC = "SyncLagMs"
MetricTable = Mapping[str, tuple[str, ...]]


def publish_counts(table: MetricTable, counts: Mapping[str, int]) -> None:
    """Each count under the metrics `table` names for it (a count the table omits is not published)."""
    totals: dict[str, int] = {}
    for field, names in table.items():
        for name in names:
            totals[name] = totals.get(name, 0) + counts.get(field, 0)
    for name, value in totals.items():
        metrics.add_metric(name, MetricUnit.Count, value)


def publish_lags(lags_ms: Iterable[int | None]) -> None:
    """One SyncLagMs value per lag; None (an intent with no record time) is left out."""
    for lag in lags_ms:
        if lag is not None:
            metrics.add_metric(SYNC_LAG_METRIC, MetricUnit.Milliseconds, lag)
