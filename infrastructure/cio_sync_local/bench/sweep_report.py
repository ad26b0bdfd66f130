"""Phase 6 (the profile sweep) in the report: its table rows, its targets and its part of results.json.

Pure, like report.py, which calls these three; kept apart so the phase's figures live in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

# The sweep's own budget (ProfileSweepAppRatePerSecond's default): at most half the App API's limit.
MAX_APP_SHARE: Final = 0.5
# A delete costs nothing near a request: the track function packs them into /api/v2/batch requests.
MIN_DELETES_PER_TRACK_REQUEST: Final = 100.0
# Search pages hold 1000 people: the walk needs one App request per 1000 profiles, plus the last page, and
# the opt-out walk (before it) one per 1000 unsubscribed people, plus its last page; the opt-out walk reads
# no attributes of people the table already holds unsubscribed (the bench seeds none that it does not).
# A page's deletes cost one more per 100 (their mark is read first): at most one per 100 orphans plus one
# a page.
PEOPLE_PER_PAGE: Final = 1000
IDS_PER_ATTRIBUTES_REQUEST: Final = 100

_COUNT: Final = {"type": "integer", "minimum": 0}
_NUMBER: Final = {"type": "number", "minimum": 0}
SWEEP_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": [
        "profiles",
        "orphans",
        "scanned",
        "app_requests",
        "app_peak_requests_per_second",
        "app_limit_per_s",
        "app_rate_limited_429",
        "track_requests",
        "track_operations",
        "sweep_s",
        "wall_s",
        "orphans_left",
        "members_kept",
        "members",
    ],
    "properties": {
        "profiles": _COUNT,
        "orphans": _COUNT,
        "scanned": _COUNT,
        "app_requests": _COUNT,
        "app_peak_requests_per_second": _COUNT,
        "app_limit_per_s": _COUNT,
        "app_rate_limited_429": _COUNT,
        "track_requests": _COUNT,
        "track_operations": _COUNT,
        "sweep_s": _NUMBER,
        "wall_s": _NUMBER,
        "unsubscribed": _COUNT,  # people Customer.io holds as unsubscribed (absent in older runs: none)
    },
}


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value >= 1 else f"{value * 1000:.0f} ms"


def sweep_rows(results: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    sweep = results.get("sweep")
    if sweep is None:
        return []
    share = round(sweep["orphans"] * 100 / max(sweep["profiles"], 1))
    per_request = sweep["track_operations"] / max(sweep["track_requests"], 1)
    return [
        (
            f"6. profile sweep, {sweep['profiles']:,} profiles ({share}% orphans)",
            f"{_seconds(sweep['sweep_s'])} to walk, {_seconds(sweep['wall_s'])} until every orphan is gone",
            f"every orphan deleted, every member's profile kept "
            f"({sweep['orphans_left']} left, {sweep['members'] - sweep['members_kept']} lost)",
        ),
        (
            "   App API requests (search pages of 1,000; marks)",
            f"{sweep['app_requests']:,}",
            f"target <= {_allowed(sweep):,} (a page per 1,000 people; a mark read per 100 deletes)",
        ),
        (
            "   peak App API requests in any one second",
            f"{sweep['app_peak_requests_per_second']}, {sweep['app_rate_limited_429']} answers 429",
            f"limit {sweep['app_limit_per_s']}; target <= {_peak_allowed(sweep)} and 0 answers 429",
        ),
        (
            "   Track requests for the deletes",
            f"{sweep['track_requests']:,} ({per_request:,.0f} deletes per request)",
            f"one request per orphan: {sweep['orphans']:,}; "
            f"target >= {MIN_DELETES_PER_TRACK_REQUEST:g} deletes per request",
        ),
    ]


def _pages(profiles: int) -> int:
    return profiles // PEOPLE_PER_PAGE + 1


def _allowed(sweep: Mapping[str, Any]) -> int:
    """The walk's search pages, the opt-out walk's, and the mark reads of each page's deletes."""
    pages = _pages(sweep["profiles"])
    marks = int(sweep["orphans"]) // IDS_PER_ATTRIBUTES_REQUEST + pages
    return pages + _pages(sweep.get("unsubscribed", 0)) + marks


def _peak_allowed(sweep: Mapping[str, Any]) -> int:
    return int(sweep["app_limit_per_s"] * MAX_APP_SHARE) + 1  # one second may hold both ends of a spacing


def sweep_misses(results: Mapping[str, Any]) -> list[str]:
    sweep = results.get("sweep")
    if sweep is None:
        return []
    misses: list[str] = []
    if sweep["orphans_left"] or sweep["members_kept"] != sweep["members"]:
        misses.append(
            f"sweep: {sweep['orphans_left']} orphans left, "
            f"{sweep['members'] - sweep['members_kept']} members' profiles lost"
        )
    if sweep["scanned"] != sweep["profiles"]:
        misses.append(f"sweep: scanned {sweep['scanned']} of {sweep['profiles']} profiles")
    if sweep["app_requests"] > _allowed(sweep):
        misses.append(f"sweep: {sweep['app_requests']} App API requests (target <= {_allowed(sweep)})")
    if sweep["app_peak_requests_per_second"] > _peak_allowed(sweep) or sweep["app_rate_limited_429"]:
        misses.append(
            f"sweep: peak {sweep['app_peak_requests_per_second']} App API requests/s, "
            f"{sweep['app_rate_limited_429']} answers 429 (target <= {_peak_allowed(sweep)}, none)"
        )
    if sweep["track_operations"] / max(sweep["track_requests"], 1) < MIN_DELETES_PER_TRACK_REQUEST:
        misses.append(
            f"sweep: {sweep['track_requests']} Track requests for {sweep['track_operations']} deletes"
        )
    return misses
