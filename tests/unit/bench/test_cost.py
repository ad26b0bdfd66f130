"""The cost figure's arithmetic: billing rules, the price table's checks, and what the template holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cio_sync_local.bench.cost import (
    MILLION,
    IdleStack,
    Prices,
    PriceTableError,
    Usage,
    billed_gb_s,
    idle_floor,
    load_prices,
    price,
    sqs_requests,
    traced,
    wall_ms,
)
from cio_sync_local.bench.cost_report import PRICES_PATH
from cio_sync_local.bench.cost_usage import ASSUMPTIONS, Memory, idle_stack, mix_usage

UNIT = {
    "lambda_requests_per_million": 0.20,
    "lambda_arm64_gb_second": 0.00001,
    "sqs_standard_requests_per_million": 0.40,
    "sqs_fifo_requests_per_million": 0.50,
    "dynamodb_on_demand_write_units_per_million": 0.625,
    "dynamodb_on_demand_read_units_per_million": 0.125,
    "cloudwatch_logs_ingestion_per_gb": 0.50,
    "xray_traces_recorded_per_million": 5.00,
    "cloudwatch_alarm_per_month": 0.10,
    "cloudwatch_dashboard_per_month": 3.00,
    "cloudwatch_custom_metric_per_month": 0.30,
    "secrets_manager_secret_per_month": 0.40,
    "kms_key_per_month": 1.00,
}
PRICES = Prices("2025-06-01", "us-east-1", "test", UNIT)


def test_duration_is_billed_by_the_whole_millisecond_at_the_memory_size() -> None:
    assert billed_gb_s(3, 10.2, 256) == pytest.approx(3 * 0.011 * 0.25)
    assert billed_gb_s(1, 1.0, 1024) == pytest.approx(0.001)


def test_cpu_stretches_below_a_full_vcpu_only() -> None:
    assert wall_ms(0.001, 5.0, 1769) == pytest.approx(6.0)
    assert wall_ms(0.001, 5.0, 3538) == pytest.approx(6.0)  # more than one vCPU does not speed one thread
    assert wall_ms(0.001, 0.0, 256) == pytest.approx(1769 / 256)


def test_sqs_bills_batches_and_each_64_kb() -> None:
    assert sqs_requests(0, 0) == 0
    assert sqs_requests(25, 1000) == 3
    assert sqs_requests(10, 10 * 64 * 1024) == 10  # ten full-size messages: one request each
    assert sqs_requests(1, 64 * 1024 + 1) == 2


def test_each_line_is_priced_and_totalled() -> None:
    usage = Usage(
        lambda_requests=2 * MILLION,
        lambda_gb_s=1000.0,
        sqs_standard_requests=MILLION,
        sqs_fifo_requests=2 * MILLION,
        dynamodb_write_units=MILLION,
        dynamodb_read_units=4 * MILLION,
        log_bytes=2 * 1024**3,
        xray_traces=MILLION / 10,
        custom_metric_hours=730.0,
        customerio_requests=MILLION,
    )
    dollars = price(usage, PRICES)
    assert dollars == pytest.approx(
        {
            "lambda requests": 0.40,
            "lambda duration": 0.01,
            "sqs requests": 0.40 + 1.00,
            "dynamodb": 0.625 + 0.50,
            "logs ingested": 1.00,
            "x-ray traces": 0.50,
            "custom metrics": 0.30,  # 730 metric-hours: one metric published a whole month
            "total": 0.40 + 0.01 + 1.40 + 1.125 + 1.00 + 0.50 + 0.30,
        }
    )
    assert price(usage.scaled(2), PRICES)["total"] == pytest.approx(2 * dollars["total"])


def test_the_idle_floor_counts_empty_receives_of_five_pollers() -> None:
    stack = IdleStack(
        alarms=10,
        dashboards=1,
        secrets=2,
        kms_keys=1,
        sqs_mappings_standard=1,
        sqs_mappings_fifo=1,
    )
    floor = idle_floor(stack, PRICES)
    receives = 5 * 30 * 24 * 3600 / 20  # 648,000 a month a mapping
    assert floor["sqs empty receives"] == pytest.approx(receives / MILLION * (0.40 + 0.50))
    assert floor["total"] == pytest.approx(1.00 + 3.00 + 0.80 + 1.00 + floor["sqs empty receives"])


def test_the_repositorys_price_table_names_its_date_and_source() -> None:
    prices = load_prices(PRICES_PATH)
    assert prices.region == "us-east-1"
    assert prices.as_of[:2] == "20"
    assert "list prices" in prices.source
    checked = json.loads(PRICES_PATH.read_text(encoding="utf-8"))["checked"]
    assert sorted(checked) == sorted(UNIT)  # every price says when, how and where it was checked
    assert {entry["date"] for entry in checked.values()} == {prices.as_of}


CHECKED = {
    name: {"date": "2026-12-07", "confirmed_by": "aws", "urls": ["https://aws.example/"]} for name in UNIT
}


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"as_of": ""}, "`as_of` is required"),
        ({"source": None}, "`source` is required"),
        ({"prices": {**UNIT, "kms_key_per_month": "1"}}, "no price for kms_key_per_month"),
        (
            {"checked": {**CHECKED, "kms_key_per_month": None}},
            "no date, confirmation and source URL for kms_key",
        ),
        (
            {"checked": {**CHECKED, "kms_key_per_month": {**CHECKED["kms_key_per_month"], "urls": []}}},
            "kms_key",
        ),
        (
            {
                "checked": {
                    **CHECKED,
                    "kms_key_per_month": {**CHECKED["kms_key_per_month"], "confirmed_by": "me"},
                }
            },
            "kms_key",
        ),
        (
            {"checked": {**CHECKED, "kms_key_per_month": {**CHECKED["kms_key_per_month"], "date": "june"}}},
            "kms",
        ),
    ],
)
def test_a_price_table_without_date_source_price_or_check_is_refused(
    tmp_path: Path, change: dict[str, Any], complaint: str
) -> None:
    table = {
        "as_of": "2025-06-01",
        "region": "us-east-1",
        "source": "test",
        "prices": UNIT,
        "checked": CHECKED,
    }
    table.update(change)
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(table), encoding="utf-8")
    with pytest.raises(PriceTableError, match=complaint):
        load_prices(path)


def test_the_idle_stack_is_counted_from_the_template() -> None:
    def function(queue: str) -> dict[str, Any]:
        events = {"Messages": {"Type": "SQS", "Properties": {"Queue": {"Fn::GetAtt": [queue, "Arn"]}}}}
        return {"Type": "AWS::Serverless::Function", "Properties": {"Events": events}}

    alarm = {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Namespace": "cio-sync", "MetricName": "Lag"}}
    aws_alarm = {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {"Namespace": "AWS/SQS", "MetricName": "Age"},
    }
    template = {
        "Parameters": {"TrackSecretName": {}, "AppSecretName": {}, "Other": {}},
        "Resources": {
            "Fifo": {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": True}},
            "Plain": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "One": function("Fifo"),
            "Two": function("Plain"),
            "Three": function("Plain"),
            "LagAlarm": alarm,
            "AgeAlarm": aws_alarm,
            "Key": {"Type": "AWS::KMS::Key"},
        },
    }
    assert idle_stack(template) == IdleStack(
        alarms=2,
        dashboards=0,
        secrets=2,
        kms_keys=1,
        sqs_mappings_standard=2,
        sqs_mappings_fifo=1,
    )


def test_an_interactive_change_costs_an_invocation_of_each_function_and_one_request() -> None:
    usage, counts = mix_usage(False, Memory(256, 256), 20)
    assert counts["member_stream_invocations"] == counts["track_invocations"] == 20
    assert usage.lambda_requests == 2 * MILLION
    assert usage.customerio_requests == MILLION
    assert usage.sqs_fifo_requests == 3 * MILLION  # send, receive, delete
    assert usage.log_bytes > usage.lambda_requests * ASSUMPTIONS["platform_log_bytes"]  # the functions' own


def test_bulk_changes_share_invocations_and_requests() -> None:
    usage, counts = mix_usage(True, Memory(256, 256), 2000)
    assert counts["member_stream_invocations"] == 2  # batches of 1,000
    assert usage.customerio_requests < MILLION / 50
    assert usage.lambda_requests < MILLION / 50


def test_x_ray_traces_each_functions_first_invocation_a_second_and_a_share_of_the_rest() -> None:
    assert traced(3600, 3600.0, 1.0, 0.05) == 3600  # a trickle: every invocation
    assert traced(100, 3600.0, 1.0, 0.05) == 100
    assert traced(36_000, 3600.0, 1.0, 0.05) == pytest.approx(3600 + 0.05 * 32_400)


def test_an_interactive_trickle_traces_every_invocation_and_pays_its_metrics_by_the_hour() -> None:
    """X-Ray was priced at 5% of invocations, ignoring the reservoir that traces nearly all of a trickle."""
    usage, counts = mix_usage(False, Memory(256, 256), 20)
    assert ASSUMPTIONS["interactive_changes_per_s"] <= ASSUMPTIONS["xray_reservoir_per_s"]
    assert usage.xray_traces == pytest.approx(usage.lambda_requests)
    # A million changes at the stated rate keep each metric the functions print published that long.
    hours = MILLION / ASSUMPTIONS["interactive_changes_per_s"] / 3600
    assert counts["custom_metrics_published"] >= 5  # ProfilesUpserted, IntentsPublished, ...
    assert usage.custom_metric_hours == pytest.approx(counts["custom_metrics_published"] * hours)
