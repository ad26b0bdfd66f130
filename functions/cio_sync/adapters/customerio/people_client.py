"""The profile sweep's App API reads: people search (POST /v1/customers) and attributes
(POST /v1/customers/attributes).

The reads change nothing, so every retryable failure of theirs is retried within the caller's deadline.
A client of its own (not methods of the email client) so the email function never loads them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from cio_sync.adapters.customerio.app_client import AppApiClient
from cio_sync.adapters.customerio.dryrun import log_not_sent
from cio_sync.adapters.customerio.transport import count_error
from cio_sync.customerio.errors import string_values
from cio_sync.customerio.payloads import encode
from cio_sync.customerio.people import (
    MAX_ATTRIBUTE_IDS,
    MAX_SEARCH_LIMIT,
    PeoplePage,
    StoredProfile,
    UnexpectedReply,
    parse_attributes,
    parse_people_page,
    parse_profiles,
    parse_timestamps,
    search_body,
)

T = TypeVar("T")


class PeopleClient(AppApiClient):
    """Who is in the workspace, and their attributes as Customer.io stores them."""

    def search_people(
        self,
        filter_: Mapping[str, Any],
        *,
        start: str | None = None,
        limit: int = MAX_SEARCH_LIMIT,
        deadline: float | None = None,
    ) -> PeoplePage:
        """One page of people matching `filter_` (`start`: the previous page's `next_start`).

        A dry run (CUSTOMER_IO_ENABLED=false) calls nothing and finds nobody.
        """
        if not 1 <= limit <= MAX_SEARCH_LIMIT:
            raise ValueError(f"limit must be 1 to {MAX_SEARCH_LIMIT}")
        if not self.enabled:
            log_not_sent(self.api, "search_people", None)
            return PeoplePage((), None)
        query = {"limit": str(limit), **({"start": start} if start else {})}
        response = self._transport.send(
            "POST",
            f"/v1/customers?{urlencode(query)}",
            encode(search_body(filter_)),
            operation="search_people",
            deadline=deadline,
            sensitive=list(string_values(filter_)),  # an email we search for, cut from any echoed error
        )
        return _parsed(response.content, "search_people", parse_people_page)

    def people_attributes(
        self, person_ids: Sequence[str], *, deadline: float | None = None
    ) -> dict[str, dict[str, str]]:
        """Attributes (as Customer.io stores them: strings) of up to 100 people; absent ids are left out."""
        return self._attributes(person_ids, deadline, parse_attributes)

    def people_profiles(
        self, person_ids: Sequence[str], *, deadline: float | None = None
    ) -> dict[str, StoredProfile]:
        """`people_attributes` with each attribute's timestamp (the consent read-back orders by them)."""
        return self._attributes(person_ids, deadline, parse_profiles)

    def _attributes(
        self, person_ids: Sequence[str], deadline: float | None, parse: Callable[[Any], dict[str, T]]
    ) -> dict[str, T]:
        if not 1 <= len(person_ids) <= MAX_ATTRIBUTE_IDS:
            raise ValueError(f"ask for 1 to {MAX_ATTRIBUTE_IDS} people at a time")
        if not self.enabled:
            log_not_sent(self.api, "people_attributes", None)
            return {}
        response = self._transport.send(
            "POST",
            "/v1/customers/attributes?id_type=id",
            encode({"ids": list(person_ids)}),
            operation="people_attributes",
            deadline=deadline,
        )
        return _parsed(response.content, "people_attributes", parse)

    def person_attributes(
        self, person_id: str, *, deadline: float | None = None
    ) -> tuple[dict[str, str], dict[str, int]] | None:
        """One person's attributes and when each was set (`members explain`); None when there is no one."""
        if not self.enabled:
            log_not_sent(self.api, "person_attributes", None)
            return None
        response = self._transport.send(
            "POST",
            "/v1/customers/attributes?id_type=id",
            encode({"ids": [person_id]}),
            operation="people_attributes",
            deadline=deadline,
        )
        attributes = _parsed(response.content, "people_attributes", parse_attributes).get(person_id)
        if attributes is None:
            return None
        stamps = _parsed(response.content, "people_attributes", parse_timestamps).get(person_id, {})
        return attributes, stamps


def _parsed(content: bytes, operation: str, parse: Callable[[Any], T]) -> T:
    """A 2xx body read as documented; another shape is counted and raised (it names no value)."""
    try:
        return parse(json.loads(content))
    except ValueError:
        error: UnexpectedReply = UnexpectedReply(f"{operation} answered a body that is not JSON")
    except UnexpectedReply as unexpected:
        error = unexpected
    count_error(error)
    raise error
