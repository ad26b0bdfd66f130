"""The App API client: transactional email (POST /v1/send/email), addressed to a placeholder profile, and
the people reads of the profile sweep (POST /v1/customers search, POST /v1/customers/attributes).

Sending email is not idempotent (Customer.io has no idempotency key), so it is retried in-process only
when Customer.io certainly did not act: a 429, or a connection that never opened. Anything else that
might have been delivered goes back to the caller at once, who decides whether to risk a duplicate.
The reads change nothing, so every retryable failure of theirs is retried within the caller's deadline.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from cio_sync.adapters.customerio.client import CustomerIoClient
from cio_sync.adapters.customerio.credentials import Credentials
from cio_sync.adapters.customerio.dryrun import log_not_sent
from cio_sync.adapters.customerio.transport import bearer_auth, count_error
from cio_sync.customerio.errors import PermanentError, string_values
from cio_sync.customerio.payloads import JsonValue, encode
from cio_sync.customerio.people import (
    MAX_ATTRIBUTE_IDS,
    MAX_SEARCH_LIMIT,
    PeoplePage,
    UnexpectedReply,
    parse_attributes,
    parse_people_page,
    search_body,
)
from cio_sync.customerio.regions import APP_HOSTS

DRY_RUN_DELIVERY_ID = "dry-run"
T = TypeVar("T")


class AppClient(CustomerIoClient):
    """App API: Bearer auth with the App key; 10 requests/s by default (its documented limit)."""

    api = "app"
    hosts = APP_HOSTS
    default_rate_per_s = 10.0

    @staticmethod
    def authorization(credentials: Credentials) -> dict[str, str]:
        return bearer_auth(credentials.app_api_key)

    def send_email(
        self,
        to: str,
        transactional_message_id: str | int,
        identifier_id: str,
        message_data: Mapping[str, JsonValue],
        deadline: float | None = None,
    ) -> str:
        """Queue one transactional email; returns Customer.io's delivery id."""
        if not self.enabled:
            log_not_sent(
                self.api,
                "send_email",
                None,
                message_data,
                transactional_message_id=str(transactional_message_id),
                identifier_id=identifier_id,
            )
            return DRY_RUN_DELIVERY_ID
        body = {
            "to": to,
            # A numeric id goes as a number: as a string Customer.io may read it as a trigger name.
            "transactional_message_id": _message_id(transactional_message_id),
            "identifiers": {"id": identifier_id},
            "message_data": dict(message_data),
            # The reset link must not sit in Customer.io's delivery history.
            "disable_message_retention": True,
            # All mail goes to one shared placeholder profile: if it were ever unsubscribed, Customer.io
            # would accept every reset (200) and suppress it. These emails are transactional, not marketing.
            "send_to_unsubscribed": True,
        }
        response = self._transport.send(
            "POST",
            "/v1/send/email",
            encode(body),
            operation="send_email",
            deadline=deadline,
            idempotent=False,
            sensitive=[to, *string_values(message_data)],
        )
        try:
            delivery_id = response.json().get("delivery_id")
        except (ValueError, AttributeError):
            delivery_id = None
        if not isinstance(delivery_id, str) or not delivery_id:
            # Accepted but unconfirmed: sending again could duplicate the email, so this is not retryable.
            error = PermanentError(response.status_code, "Customer.io send_email gave no delivery id")
            count_error(error)
            raise error
        return delivery_id

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
            sensitive=_filter_values(filter_),
        )
        return _parsed(response.content, "search_people", parse_people_page)

    def people_attributes(
        self, person_ids: Sequence[str], *, deadline: float | None = None
    ) -> dict[str, dict[str, str]]:
        """Attributes (as Customer.io stores them: strings) of up to 100 people; absent ids are left out."""
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
        return _parsed(response.content, "people_attributes", parse_attributes)


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


def _filter_values(node: Any) -> list[str]:
    """Every string in a filter (an email we search for): cut out of any error text Customer.io echoes."""
    return list(string_values(node))


def _message_id(value: str | int) -> str | int:
    return int(value) if isinstance(value, str) and value.isdigit() else value
