"""What Customer.io should hold for each member now, from the items the track function read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_lambda_powertools.metrics import MetricUnit

from cio_sync.members.contract import MemberItem
from cio_sync.members.profile import ProfileAttributes, ProfileLimitError, build_profile
from cio_sync.members.subscriptions import is_profile_eligible
from cio_sync.observability import logger, metrics


def desired_profiles(
    member_ids: Sequence[str], members: Mapping[str, MemberItem]
) -> tuple[dict[str, ProfileAttributes | None], dict[str, str]]:
    """What Customer.io should hold for each member now: a payload, or None (no profile).

    A missing or ineligible member needs no payload: its profile is deleted whatever its item holds. An
    attribute that breaks the contract or a limit is sent truncated or null and reported (a log line
    naming the attribute and the rule, `ProfileAttributesDegraded`), so it never holds back consent; only
    a member with no usable id is returned among the problems.
    """
    desired: dict[str, ProfileAttributes | None] = {}
    problems: dict[str, str] = {}
    degraded = 0
    for member_id in member_ids:
        member = members.get(member_id)
        if member is None or not is_profile_eligible(member):
            desired[member_id] = None
            continue
        try:
            profile = build_profile(member)
        except ProfileLimitError as error:
            problems[member_id] = f"profile cannot be built: {error}"
            continue
        desired[member_id] = profile.attributes
        for attribute in profile.degraded:
            logger.warning(
                "profile attribute degraded",
                extra={"member_id": member_id, "attribute": attribute.attribute, "rule": attribute.rule},
            )
        degraded += len(profile.degraded)
    if degraded:
        metrics.add_metric("ProfileAttributesDegraded", MetricUnit.Count, degraded)
    return desired, problems
