import pytest

from cio_sync.settings import CustomerIoSettings, Settings, SettingsError


def test_defaults_need_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MEMBER_TABLE_NAME", "CUSTOMER_IO_REGION", "CUSTOMER_IO_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    config = Settings.from_env()
    assert (config.member_table, config.customer_io.region, config.customer_io.enabled) == (
        "cio-sync-members",
        "us",
        True,
    )


def test_the_fair_use_budget_is_shared_by_concurrent_consumers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTOMER_IO_TRACK_RATE_PER_S", "100")
    monkeypatch.setenv("CUSTOMER_IO_TRACK_CONCURRENCY", "4")
    monkeypatch.setenv("CUSTOMER_IO_APP_RATE_PER_S", "10")
    config = CustomerIoSettings.from_env()
    assert config.track_rate_per_process == 25
    assert config.app_rate_per_process == 10


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CUSTOMER_IO_REGION", "ap", "CUSTOMER_IO_REGION must be us or eu"),
        ("CUSTOMER_IO_ENABLED", "maybe", "CUSTOMER_IO_ENABLED must be true or false"),
        ("CUSTOMER_IO_TRACK_RATE_PER_S", "-1", "must be positive"),
        ("MAX_RECEIVE_COUNT", "many", "MAX_RECEIVE_COUNT must be a number"),
    ],
)
def test_bad_values_name_the_variable_not_the_value(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message) as raised:
        Settings.from_env()
    assert value not in str(raised.value) or value in message


def test_dry_run_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTOMER_IO_ENABLED", "false")
    assert CustomerIoSettings.from_env().enabled is False
