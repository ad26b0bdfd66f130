"""What the profile side of `cio-sync reconcile` needs to act as the profile-sweep function does: the App
API (its key's secret, its host), the placeholder profile, the volatile window and the email topic map.

A deployed stack's Parameters name them (CustomerIoAppSecretName, CustomerIoRegion, AppIdentifierId,
VolatileSyncWindowSeconds, EmailTopicMap); the local stack and the environment give the functions' own
variables (CUSTOMER_IO_APP_SECRET_NAME, CUSTOMER_IO_APP_URL or CUSTOMER_IO_REGION,
CUSTOMER_IO_APP_IDENTIFIER_ID, VOLATILE_SYNC_WINDOW_S, EMAIL_TOPIC_MAP). The App API key itself is read
from the secret, never from a variable or an option.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from cio_sync.adapters.customerio.credentials import APP_FIELDS, SecretCredentials
from cio_sync.adapters.customerio.people_client import PeopleClient
from cio_sync.customerio.regions import APP_HOSTS
from cio_sync.sync.diff import DEFAULT_VOLATILE_WINDOW_S
from cio_sync_cli.errors import CommandError
from cio_sync_cli.target import HOW_TO_TARGET, OpsTarget

# The stack parameter behind each function variable the sweep reads.
PARAMETERS: Final[Mapping[str, str]] = {
    "CUSTOMER_IO_APP_SECRET_NAME": "CustomerIoAppSecretName",
    "CUSTOMER_IO_REGION": "CustomerIoRegion",
    "CUSTOMER_IO_APP_IDENTIFIER_ID": "AppIdentifierId",
    "VOLATILE_SYNC_WINDOW_S": "VolatileSyncWindowSeconds",
    "EMAIL_TOPIC_MAP": "EmailTopicMap",
}
# The sweep function's own budget; an operator's run shares the App API's 10/s with it.
DEFAULT_APP_RATE_PER_S: Final = 5.0


@dataclass(frozen=True)
class SweepTarget:
    secret_name: str
    app_url: str
    placeholder_id: str
    volatile_window_s: int
    topic_map: str = ""  # EmailTopicMap: `news=1,...` (the consent read-back's subscription-centre topics)


def sweep_target(target: OpsTarget) -> SweepTarget:
    values = _values(target)

    def required(variable: str) -> str:
        value = values.get(variable)
        if not value:
            name = PARAMETERS[variable] if target.source == "cloudformation" else variable
            raise CommandError(f"no {name} for {target.label}: set it, or {HOW_TO_TARGET}")
        return value

    region = values.get("CUSTOMER_IO_REGION") or "us"
    if region not in APP_HOSTS:
        raise CommandError(f"CUSTOMER_IO_REGION must be one of {', '.join(APP_HOSTS)}")
    window = values.get("VOLATILE_SYNC_WINDOW_S") or str(DEFAULT_VOLATILE_WINDOW_S)
    if not window.isdigit():
        raise CommandError("VOLATILE_SYNC_WINDOW_S must be a whole number of seconds")
    return SweepTarget(
        secret_name=required("CUSTOMER_IO_APP_SECRET_NAME"),
        app_url=values.get("CUSTOMER_IO_APP_URL") or APP_HOSTS[region],  # type: ignore[index]
        placeholder_id=required("CUSTOMER_IO_APP_IDENTIFIER_ID"),
        volatile_window_s=int(window),
        topic_map=values.get("EMAIL_TOPIC_MAP", ""),
    )


def _values(target: OpsTarget) -> dict[str, str]:
    """Trimmed, as the functions read them: a placeholder id with a stray space must still be skipped."""
    if target.source == "cloudformation":
        return {
            variable: value
            for variable, parameter in PARAMETERS.items()
            if (value := (target.stack_parameters.get(parameter) or "").strip())
        }
    return {name: value.strip() for name, value in target.variables.items() if value.strip()}


def app_client(target: OpsTarget, where: SweepTarget, rate_per_s: float) -> PeopleClient:
    """A people client paced at `rate_per_s`, its key read from the target's secret at the first call."""

    def secrets() -> Any:
        return target.client("secretsmanager")

    return PeopleClient(
        SecretCredentials(where.secret_name, secrets, fields=APP_FIELDS),
        base_url=where.app_url,
        rate_per_s=rate_per_s,
    )
