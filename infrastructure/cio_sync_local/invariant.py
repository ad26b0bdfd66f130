"""The invariant every part serves, checked against a running stack (ARCHITECTURE.md).

Once the pipeline is idle, a member has a Customer.io profile exactly when the member exists, is not muted
and is subscribed to email or SMS, and that profile's attributes equal the payload computed from the member
item. Tests, the soak and the benchmark all ask this one module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import requests
from boto3.dynamodb.types import TypeDeserializer

from cio_sync.members.profile import profile_attributes
from cio_sync.members.subscriptions import is_profile_eligible

_deserializer = TypeDeserializer()


def plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; member items hold ints where they hold numbers at all."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def expected_attributes(member: Mapping[str, Any]) -> dict[str, Any]:
    """What Customer.io should hold: the payload less the identifier and removed (null, "") values."""
    payload = profile_attributes(member)
    payload.pop("id", None)
    return {name: value for name, value in payload.items() if value not in (None, "")}


def violations(
    members: Mapping[str, Mapping[str, Any] | None],
    profiles: Mapping[str, Mapping[str, Any]],
    *,
    ignore_profiles: Iterable[str] = (),
) -> list[str]:
    """Every way Customer.io differs from the table, one line each (member ids and attribute names only).

    `members` maps each member id to check to its item (None: the member does not exist); `profiles` maps
    person id to attributes, as `GET /_emulator/profiles` answers. Profiles of ids not in `members` are
    violations too, except `ignore_profiles` (the transactional placeholder).
    """
    problems: list[str] = []
    for member_id, member in sorted(members.items()):
        profile = profiles.get(member_id)
        if not is_profile_eligible(member):
            if profile is not None:
                problems.append(f"{member_id}: has a profile but is not eligible")
            continue
        assert member is not None
        if profile is None:
            problems.append(f"{member_id}: eligible but has no profile")
            continue
        expected = expected_attributes(member)
        actual = dict(profile)
        wrong = sorted(name for name in set(expected) | set(actual) if expected.get(name) != actual.get(name))
        if wrong:
            problems.append(f"{member_id}: attributes differ: {', '.join(wrong)}")
    ignored = set(ignore_profiles)
    problems.extend(
        f"{profile_id}: profile without a member"
        for profile_id in sorted(set(profiles) - set(members) - ignored)
    )
    return problems


def scan_members(dynamodb: Any, table: str) -> dict[str, dict[str, Any]]:
    """Every member item in the table (a consistent scan), by id."""
    members: dict[str, dict[str, Any]] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page.get("Items", []):
            member = {name: plain(_deserializer.deserialize(value)) for name, value in item.items()}
            members[member["id"]] = member
    return members


def fetch_profiles(emulator_url: str) -> dict[str, dict[str, Any]]:
    """Person id -> attributes."""
    response = requests.get(f"{emulator_url}/_emulator/profiles", timeout=30)
    response.raise_for_status()
    profiles: dict[str, dict[str, Any]] = response.json()
    return profiles


def check_stack(
    dynamodb: Any, table: str, emulator_url: str, *, ignore_profiles: Iterable[str] = ()
) -> list[str]:
    """The invariant over the whole table and every profile the emulator holds."""
    members: dict[str, Mapping[str, Any] | None] = dict(scan_members(dynamodb, table))
    return violations(members, fetch_profiles(emulator_url), ignore_profiles=ignore_profiles)
