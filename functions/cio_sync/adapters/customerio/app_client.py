"""The App API client: transactional email (POST /v1/send/email), addressed to a placeholder profile.

Sending email is not idempotent (Customer.io has no idempotency key), so it is retried in-process only
when Customer.io certainly did not act: a 429, or a connection that never opened. Anything else that
might have been delivered goes back to the caller at once, who decides whether to risk a duplicate.
The profile sweep's people reads are the same API with another client (people_client.PeopleClient), so
the email function never loads them.
"""

from __future__ import annotations

from collections.abc import Mapping

from cio_sync.adapters.customerio.client import CustomerIoClient
from cio_sync.adapters.customerio.credentials import Credentials
from cio_sync.adapters.customerio.dryrun import log_not_sent
from cio_sync.adapters.customerio.transport import bearer_auth, count_error
from cio_sync.customerio.errors import PermanentError, string_values
from cio_sync.customerio.payloads import JsonValue, encode
from cio_sync.customerio.regions import APP_HOSTS

DRY_RUN_DELIVERY_ID = "dry-run"


class AppApiClient(CustomerIoClient):
    """App API: Bearer auth with the App key; 10 requests/s by default (its documented limit)."""

    api = "app"
    hosts = APP_HOSTS
    default_rate_per_s = 10.0

    @staticmethod
    def authorization(credentials: Credentials) -> dict[str, str]:
        return bearer_auth(credentials.app_api_key)


class AppClient(AppApiClient):
    """Transactional email through the App API."""

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


def _message_id(value: str | int) -> str | int:
    return int(value) if isinstance(value, str) and value.isdigit() else value
