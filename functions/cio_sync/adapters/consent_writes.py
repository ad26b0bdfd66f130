"""The consent function's reads and writes of the member table, through the member model.

Only the attributes the consent function reads or writes are touched (a projected read, an update of the
changed attributes), so the role's grant limits them. Writes are the repository's conditional update: on
the item existing and on `updated_at` still holding what was read, stamping a new `updated_at` (the
contract's rule for every writer).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from pynamodb.exceptions import DoesNotExist, GetError, PynamoDBConnectionError, PynamoDBException
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from cio_sync.adapters.member_model import still_holds
from cio_sync.adapters.member_table import MemberRepository, next_token
from cio_sync.failures import TransientFailure
from cio_sync.members.contract import utc_now_iso, validate_fields
from cio_sync.pipeline.consent import READ_ATTRIBUTES


class ConsentWrites:
    """MemberConsent on one table."""

    def __init__(
        self,
        table_name: str,
        region: str,
        clock: Callable[[], str] = utc_now_iso,
        *,
        endpoint_url: str | None = None,  # the local stack's (`cio-sync reconcile --consent`)
    ) -> None:
        self._members = MemberRepository(table_name, endpoint_url=endpoint_url, region=region, clock=clock)
        self._clock = clock

    def read(self, member_id: str) -> Mapping[str, Any] | None:
        try:
            stored = self._members.model.get(
                member_id, consistent_read=True, attributes_to_get=list(READ_ATTRIBUTES)
            )
        except DoesNotExist:
            return None
        except (GetError, PynamoDBConnectionError) as error:
            raise TransientFailure(f"member table: {type(error).__name__}") from error
        values = {name: value for name, value in stored.attribute_values.items() if value is not None}
        if "email_subscription_topics" in values:
            values["email_subscription_topics"] = list(values["email_subscription_topics"])
        return values

    def write(self, member_id: str, updated_at: str | None, changes: Mapping[str, Any]) -> bool:
        validate_fields(changes, sorted(changes))
        model = self._members.model
        condition = cast(Condition, model.id.exists() & still_holds(model.updated_at, updated_at))
        actions: list[Action] = [model.updated_at.set(next_token(updated_at, self._clock()))]
        actions.extend(getattr(model, name).set(value) for name, value in sorted(changes.items()))
        try:
            return self._members.update_if(member_id, actions, condition)
        except PynamoDBException as error:  # a refused write too: the consent function retries each failure
            raise TransientFailure(f"member table: {error.cause_response_code}") from error
