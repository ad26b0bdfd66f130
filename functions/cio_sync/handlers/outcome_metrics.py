"""One way from a flow's outcome to CloudWatch: each handler's table names the metrics each count feeds.

Every metric of a table is published on each call (0 included), once, so a quiet function still shows
a flat line rather than no data. The sync lag (SyncLagMs) is one value per intent Customer.io accepted:
the dashboard's p50 and p99 and the freshness alarm are over intents, not invocations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from cio_sync.imports.outcomes import NOT_MUTED, Outcome
from cio_sync.observability import NAMESPACE, SERVICE, metrics

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


def publish_row_metrics(counts: Mapping[Outcome, int]) -> None:
    """RowsMuted, and RowsRejected with an `outcome` dimension (one EMF record per outcome seen)."""
    if counts.get("muted"):
        metrics.add_metric(name="RowsMuted", unit=MetricUnit.Count, value=counts["muted"])
    if is_metrics_disabled():  # single_metric would print even then
        return
    for outcome in NOT_MUTED:
        if counts.get(outcome):
            with single_metric(
                name="RowsRejected",
                unit=MetricUnit.Count,
                value=counts[outcome],
                namespace=NAMESPACE,
                default_dimensions={"service": SERVICE},
            ) as metric:
                metric.add_dimension(name="outcome", value=outcome)
