"""The profile sweep's ports: the App API's people reads, the member table's scan, the track queue.

Adapters: cio_sync.adapters.customerio.people_client.PeopleClient, cio_sync.adapters.member_scan.ScanMembers,
cio_sync.adapters.sqs.SqsQueues; the member reads are the track function's MemberReader.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from cio_sync.customerio.people import MAX_SEARCH_LIMIT, PeoplePage, StoredProfile
from cio_sync.members.contract import MemberItem
from cio_sync.pipeline.messages import TrackMessage


class PeopleDirectory(Protocol):
    def search_people(
        self,
        filter_: Mapping[str, Any],
        *,
        start: str | None = None,
        limit: int = MAX_SEARCH_LIMIT,
        deadline: float | None = None,
    ) -> PeoplePage: ...

    def people_attributes(
        self, person_ids: Sequence[str], *, deadline: float | None = None
    ) -> Mapping[str, Mapping[str, str]]: ...

    def people_profiles(
        self, person_ids: Sequence[str], *, deadline: float | None = None
    ) -> Mapping[str, StoredProfile]:
        """Attributes and their timestamps, from the same request as `people_attributes`."""
        ...


class MemberScanner(Protocol):
    def scan_eligibility(self) -> Iterable[MemberItem]:
        """Every member item, only the fields eligibility reads (a projection); unreadable items left out."""
        ...


class TrackPublisher(Protocol):
    def publish_track(self, messages: Sequence[TrackMessage]) -> list[int]:
        """Send the messages; returns the indexes of those the queue did not take."""
        ...
