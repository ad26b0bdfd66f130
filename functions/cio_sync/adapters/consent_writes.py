"""The consent function's reads and writes of the member table (pynamodb), and nothing else.

Its own small model: only the attributes the consent function reads or writes, so the role's reads and
the code's writes stay within them. Writes are conditional on the item existing and on `updated_at`
still holding what was read, and stamp a new `updated_at` (the contract's rule for every writer).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, cast

from pynamodb.attributes import BooleanAttribute, ListAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, GetError, PynamoDBConnectionError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from cio_sync.failures import TransientFailure
from cio_sync.members.contract import is_iso_timestamp, parse_iso, to_iso, utc_now_iso, validate_fields
from cio_sync.pipeline.consent import READ_ATTRIBUTES

_CONDITION_FAILED = "ConditionalCheckFailedException"


class ConsentModel(Model):
    class Meta:
        table_name = ""
        region: str | None = None

    id = UnicodeAttribute(hash_key=True)
    updated_at = UnicodeAttribute(null=True)
    deletion_requested_at = UnicodeAttribute(null=True)
    email_subscription_status = BooleanAttribute(null=True)
    email_subscription_topics = ListAttribute(of=UnicodeAttribute, null=True)
    email_opt_in_at = UnicodeAttribute(null=True)
    email_opt_out_at = UnicodeAttribute(null=True)
    email_bounced_at = UnicodeAttribute(null=True)
    email_spam_reported_at = UnicodeAttribute(null=True)


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
        meta = type("Meta", (), {"table_name": table_name, "region": region, "host": endpoint_url})
        self.model = cast(
            type[ConsentModel],
            type("BoundConsentModel", (ConsentModel,), {"Meta": meta, "__module__": __name__}),
        )
        self._clock = clock

    def read(self, member_id: str) -> Mapping[str, Any] | None:
        try:
            stored = self.model.get(member_id, consistent_read=True, attributes_to_get=list(READ_ATTRIBUTES))
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
        model = self.model
        unchanged = (
            model.updated_at.does_not_exist() if updated_at is None else model.updated_at == updated_at
        )
        actions: list[Action] = [model.updated_at.set(next_token(updated_at, self._clock()))]
        actions.extend(getattr(model, name).set(value) for name, value in sorted(changes.items()))
        try:
            # Nothing returned: the role may touch only the consent attributes (dynamodb:Attributes).
            model._get_connection().update_item(
                member_id,
                actions=actions,
                condition=cast(Condition, model.id.exists() & unchanged),
                return_values="NONE",
            )
        except UpdateError as error:
            if error.cause_response_code == _CONDITION_FAILED:
                return False
            raise TransientFailure(f"member table: {error.cause_response_code}") from error
        except PynamoDBConnectionError as error:
            raise TransientFailure(f"member table: {type(error).__name__}") from error
        return True


def next_token(previous: str | None, now: str) -> str:
    """`now`, or just after `previous` when a writer's clock left it ahead: a new value on every write."""
    if previous is None or not is_iso_timestamp(previous):
        return now
    after = parse_iso(previous) + timedelta(microseconds=1)
    return now if parse_iso(now) >= after else to_iso(after)
