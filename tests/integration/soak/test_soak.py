"""The soak, small and fast: the same run as `make soak` with about 25 seconds of traffic, in `make test`."""

from __future__ import annotations

import pytest

from cio_sync_local.soak import WEATHER, SoakConfig, main, soak

pytestmark = pytest.mark.integration

# A fixed number of steps, not seconds: the same workload on a fast or a busy machine. One round of the
# weather (each fault once) and fewer members, every guard below still needing its fault to have happened;
# 15 steps a phase and a cohort of 4, so each cohort member gets ~5 cohort steps (3 reach an unmute).
SOAK_STEPS = 105


@pytest.mark.timeout(1200)
def test_a_short_soak_loses_nothing_and_really_injected_its_faults() -> None:
    config = SoakConfig(
        steps=SOAK_STEPS,
        weather_rounds=1,
        seed=20261126,
        general_members=10,
        cohort_members=4,
        burst_members=4,
        drain_timeout_s=180,
    )
    summary = soak(config, print)

    assert summary["mismatches"] == []
    assert summary["invariant_violations"] == 0
    assert all(count == 0 for count in summary["dead_lettered"]["transient"].values())
    emails = summary["emails"]
    assert emails["resets_sent"] == emails["resets_requested"] > 0
    assert emails["password_updated_sent"] == emails["password_updates"] > 0
    events = summary["events"]
    assert events["resubscribe_tracked"] == events["resubscribe_expected"] > 0
    # Judged from the request bodies the pipeline sent: one event id per unmute, whatever the retries.
    assert events["resubscribe_ids_sent_to_cohort"] == events["resubscribe_expected"]
    assert events["resubscribe_sends"] >= events["resubscribe_ids_sent_to_cohort"]
    # The adversaries really ran: racing raw writes, poison among good records, an outage.
    assert summary["racing_writes"]["bursts"] > 0
    assert summary["racing_writes"]["members_off_sequential_application"] == 0
    assert summary["poison"]["parked"] == summary["poison"]["written"] > 0
    assert summary["outage"]["max_receive_count"] > summary["outage"]["old_receive_limit"]
    # Guards against passing vacuously: Customer.io failed and handlers crashed and were redelivered.
    faults = summary["faults_injected"]
    customer_io_faults = (
        faults["customer_io_failed_5xx"]
        + faults["customer_io_rate_limited_429"]
        + faults["customer_io_dropped_connections"]
    )
    assert customer_io_faults > 0
    assert faults["customer_io_rate_limited_429"] > 0  # the 1/s phase lasts long enough to draw them
    assert faults["pump_crashes_after_call"] > 0
    assert faults["pump_duplicate_deliveries"] > 0
    assert faults["weather_phases"] == len(WEATHER)


@pytest.mark.parametrize("minutes", ["0", "10.5", "-1"])
def test_the_soak_refuses_a_run_that_is_not_bounded(minutes: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--minutes", minutes])
    assert exited.value.code == 2
    assert "--minutes must be" in capsys.readouterr().err
