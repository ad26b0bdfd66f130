"""Customer.io's two data centres and their hosts; a workspace lives in exactly one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

Region = Literal["us", "eu"]
TRACK_HOSTS: Final[Mapping[Region, str]] = {
    "us": "https://track.customer.io",
    "eu": "https://track-eu.customer.io",
}
APP_HOSTS: Final[Mapping[Region, str]] = {"us": "https://api.customer.io", "eu": "https://api-eu.customer.io"}
