"""Typed settings read once from the environment (names match template.yaml's function environment).

Secrets are never here: only the *name* of the Secrets Manager secret that holds the Customer.io keys.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

Region = Literal["us", "eu"]


class SettingsError(ValueError):
    """A required setting is missing or malformed; names the variable, never its value."""


def _text(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None or value == "":
        raise SettingsError(f"environment variable {name} is required")
    return value


def _optional(name: str) -> str | None:
    return os.environ.get(name) or None


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as error:
        raise SettingsError(f"environment variable {name} must be a number") from error
    if value <= 0:
        raise SettingsError(f"environment variable {name} must be positive")
    return value


def _whole_seconds(name: str, default: int) -> int:
    """A number of seconds, zero allowed (it switches the feature off)."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if not raw.strip().isdigit():
        raise SettingsError(f"environment variable {name} must be a whole number of seconds")
    return int(raw)


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"environment variable {name} must be true or false")


@dataclass(frozen=True)
class CustomerIoSettings:
    """How to reach Customer.io and how hard we may push it."""

    region: Region = "us"
    secret_name: str = "cio-sync/customer-io"  # noqa: S105 - a secret name, not a secret
    track_base_url: str | None = None  # override: the local emulator
    app_base_url: str | None = None
    track_rate_per_s: float = 100.0  # the whole deployment's budget, not one process's
    app_rate_per_s: float = 10.0
    track_concurrency: int = 1  # how many processes share the budget (the queue's MaximumConcurrency)
    app_concurrency: int = 1
    enabled: bool = True  # false = dry run: log what would be sent, call nothing
    app_identifier_id: str = "cio-sync-transactional"
    forgot_password_message_id: str = "forgot_password"  # noqa: S105 - a message id
    password_updated_message_id: str = "password_updated"  # noqa: S105 - a message id

    @property
    def track_rate_per_process(self) -> float:
        """Pacing is per process: each concurrent consumer gets an equal share of the fair-use budget."""
        return self.track_rate_per_s / max(self.track_concurrency, 1)

    @property
    def app_rate_per_process(self) -> float:
        return self.app_rate_per_s / max(self.app_concurrency, 1)

    @classmethod
    def from_env(cls) -> CustomerIoSettings:
        region = os.environ.get("CUSTOMER_IO_REGION", "us").strip().lower()
        if region not in ("us", "eu"):
            raise SettingsError("environment variable CUSTOMER_IO_REGION must be us or eu")
        return cls(
            region="eu" if region == "eu" else "us",
            secret_name=_text("CUSTOMER_IO_SECRET_NAME", cls.secret_name),
            track_base_url=_optional("CUSTOMER_IO_TRACK_URL"),
            app_base_url=_optional("CUSTOMER_IO_APP_URL"),
            track_rate_per_s=_number("CUSTOMER_IO_TRACK_RATE_PER_S", cls.track_rate_per_s),
            app_rate_per_s=_number("CUSTOMER_IO_APP_RATE_PER_S", cls.app_rate_per_s),
            track_concurrency=int(_number("CUSTOMER_IO_TRACK_CONCURRENCY", cls.track_concurrency)),
            app_concurrency=int(_number("CUSTOMER_IO_APP_CONCURRENCY", cls.app_concurrency)),
            enabled=_flag("CUSTOMER_IO_ENABLED", cls.enabled),
            app_identifier_id=_text("CUSTOMER_IO_APP_IDENTIFIER_ID", cls.app_identifier_id),
            forgot_password_message_id=_text(
                "CUSTOMER_IO_FORGOT_PASSWORD_TRANSACTIONAL_MESSAGE_ID", cls.forgot_password_message_id
            ),
            password_updated_message_id=_text(
                "CUSTOMER_IO_PASSWORD_UPDATED_TRANSACTIONAL_MESSAGE_ID", cls.password_updated_message_id
            ),
        )


@dataclass(frozen=True)
class Settings:
    """Everything a function needs to find its resources."""

    member_table: str = "cio-sync-members"
    idempotency_table: str = "cio-sync-idempotency"
    track_queue_url: str | None = None
    email_queue_url: str | None = None
    import_chunk_queue_url: str | None = None
    stream_failure_queue_url: str | None = None
    track_dead_letter_queue_url: str | None = None
    email_dead_letter_queue_url: str | None = None
    max_receive_count: int = 300  # equals the queues' maxReceiveCount: the last receive parks with a reason
    retry_time_scale: float = 1.0  # < 1 only in the local stack's tests: backoffs run that much faster
    volatile_sync_window_s: int = 24 * 3600  # a login alone syncs once per window; 0: on every change
    import_bucket: str | None = None
    import_max_bytes: int = 512 * 1024 * 1024
    aws_endpoint_url: str | None = None  # moto server locally; None on AWS
    customer_io: CustomerIoSettings = field(default_factory=CustomerIoSettings)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            member_table=_text("MEMBER_TABLE_NAME", cls.member_table),
            idempotency_table=_text("IDEMPOTENCY_TABLE_NAME", cls.idempotency_table),
            track_queue_url=_optional("TRACK_QUEUE_URL"),
            email_queue_url=_optional("EMAIL_QUEUE_URL"),
            import_chunk_queue_url=_optional("IMPORT_CHUNK_QUEUE_URL"),
            stream_failure_queue_url=_optional("STREAM_FAILURE_QUEUE_URL"),
            track_dead_letter_queue_url=_optional("TRACK_DEAD_LETTER_QUEUE_URL"),
            email_dead_letter_queue_url=_optional("EMAIL_DEAD_LETTER_QUEUE_URL"),
            max_receive_count=int(_number("MAX_RECEIVE_COUNT", cls.max_receive_count)),
            retry_time_scale=_number("RETRY_TIME_SCALE", cls.retry_time_scale),
            volatile_sync_window_s=_whole_seconds("VOLATILE_SYNC_WINDOW_S", cls.volatile_sync_window_s),
            import_bucket=_optional("IMPORT_BUCKET"),
            import_max_bytes=int(_number("IMPORT_MAX_BYTES", cls.import_max_bytes)),
            aws_endpoint_url=_optional("AWS_ENDPOINT_URL"),
            customer_io=CustomerIoSettings.from_env(),
        )


@cache
def settings() -> Settings:
    """Read once per process (a Lambda execution environment)."""
    return Settings.from_env()
