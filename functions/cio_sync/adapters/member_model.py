"""The member table as a pynamodb model: the contract's attributes, the stored explicit null, the
update expressions the repositories build their conditional writes from, and the table connection for
the two requests the model's own methods cannot shape (an update returning nothing, a projected batch
read reporting unprocessed keys)."""

from __future__ import annotations

import os
from typing import Any, ClassVar, Final, cast

from pynamodb.attributes import BooleanAttribute, ListAttribute, NullAttribute, UnicodeAttribute
from pynamodb.connection import TableConnection
from pynamodb.connection.base import MetaTable
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.operand import Path, Value
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from cio_sync.members.contract import MemberItem
from cio_sync.members.raw_writes import MODEL_WRITE
from cio_sync.members.subscriptions import MUTED_AT

# The runtime's own limits on its connection: a slow table fails in seconds (a TransientFailure the caller
# handles), not after the 30 s read timeout pynamodb's model connection keeps.
CONNECT_TIMEOUT_S: Final = 2
READ_TIMEOUT_S: Final = 5
MAX_RETRY_ATTEMPTS: Final = 3


def default_region() -> str:
    """The AWS SDK's own rule when a caller names no region (the functions always name theirs)."""
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"


class MemberModel(Model):
    """The member contract as a pynamodb model (timestamps are kept as the contract's ISO strings)."""

    class Meta:
        """Unbound: `bind_member_model` gives each repository a subclass with its table and region."""

        table_name = ""
        host: str | None = None
        region: str | None = None
        billing_mode = "PAY_PER_REQUEST"
        stream_view_type = "NEW_AND_OLD_IMAGES"

    id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute(null=True)
    mobile = UnicodeAttribute(null=True)
    first_name = UnicodeAttribute(null=True)
    last_name = UnicodeAttribute(null=True)
    birthdate = UnicodeAttribute(null=True)
    addr_city = UnicodeAttribute(null=True)
    addr_state = UnicodeAttribute(null=True)
    addr_zip = UnicodeAttribute(null=True)
    country = UnicodeAttribute(null=True)
    language = UnicodeAttribute(null=True)
    source = UnicodeAttribute(null=True)
    source_detail = UnicodeAttribute(null=True)
    referrer_user_id = UnicodeAttribute(null=True)
    school_id = UnicodeAttribute(null=True)
    club_id = UnicodeAttribute(null=True)
    email_subscription_status = BooleanAttribute(null=True)
    email_subscription_topics = ListAttribute(of=UnicodeAttribute, null=True)
    sms_status = UnicodeAttribute(null=True)
    sms_subscription_topics = ListAttribute(of=UnicodeAttribute, null=True)
    sms_paused = BooleanAttribute(null=True)
    promotions_muted_at = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)
    last_authenticated_at = UnicodeAttribute(null=True)
    last_messaged_at = UnicodeAttribute(null=True)
    deletion_requested_at = UnicodeAttribute(null=True)
    password_updated_at = UnicodeAttribute(null=True)
    email_opt_in_at = UnicodeAttribute(null=True)
    email_opt_out_at = UnicodeAttribute(null=True)
    email_cio_opt_out_at = UnicodeAttribute(null=True)
    email_bounced_at = UnicodeAttribute(null=True)
    email_spam_reported_at = UnicodeAttribute(null=True)
    # Not a contract attribute: which rule inputs the last model write set (raw_writes.stated_rule_inputs).
    model_write = UnicodeAttribute(null=True)

    # pynamodb drops None on save; the contract keeps an explicit null for this attribute.
    EXPLICIT_NULLS: ClassVar[frozenset[str]] = frozenset({MUTED_AT})

    def serialize(self, null_check: bool = True) -> dict[str, dict[str, Any]]:
        values = super().serialize(null_check)
        for name in self.EXPLICIT_NULLS:
            if getattr(self, name) is None:
                values[name] = {"NULL": True}
        return values


def bind_member_model(
    table_name: str, endpoint_url: str | None = None, region: str | None = None
) -> type[MemberModel]:
    """A MemberModel subclass bound to one table and endpoint (pynamodb keeps both on the class)."""
    meta = type(
        "Meta",
        (),
        {
            "table_name": table_name,
            "host": endpoint_url,
            "region": region or default_region(),
            "billing_mode": "PAY_PER_REQUEST",
            "stream_view_type": "NEW_AND_OLD_IMAGES",
        },
    )
    namespace = {"Meta": meta, "__module__": __name__}
    return cast(type[MemberModel], type("BoundMemberModel", (MemberModel,), namespace))


def table_connection(model: type[MemberModel]) -> TableConnection:
    """A connection on the model's table that knows its key schema, so no request needs DescribeTable
    (the functions' roles may not call it)."""
    meta: Any = model.Meta
    schema = MetaTable(
        {
            "TableName": meta.table_name,
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        }
    )
    return TableConnection(
        meta.table_name,
        region=meta.region,
        host=meta.host,
        connect_timeout_seconds=CONNECT_TIMEOUT_S,
        read_timeout_seconds=READ_TIMEOUT_S,
        max_retry_attempts=MAX_RETRY_ATTEMPTS,
        aws_access_key_id=getattr(meta, "aws_access_key_id", None),
        aws_secret_access_key=getattr(meta, "aws_secret_access_key", None),
        aws_session_token=getattr(meta, "aws_session_token", None),
        meta_table=schema,
    )


def set_null(attribute: Any) -> Action:
    """SET the attribute to a DynamoDB NULL (pynamodb's attribute.set(None) would REMOVE it)."""
    return Path(attribute).set(Value(True, attribute=NullAttribute()))


def still_holds(attribute: Any, value: Any) -> Condition:
    """The attribute still holds `value` (None: absent or NULL)."""
    if value is None:
        return cast(Condition, attribute.does_not_exist() | Path(attribute).is_type("NULL"))
    return cast(Condition, attribute == value)


def write_value(attribute: Any, name: str, value: Any) -> Action:
    """SET a value; None is a stored NULL for the mute (part of the contract) and a REMOVE otherwise."""
    if value is None:
        return set_null(attribute) if name == MUTED_AT else cast(Action, attribute.remove())
    return cast(Action, attribute.set(value))


def to_item(stored: MemberModel) -> MemberItem:
    item: MemberItem = {
        name: value
        for name, value in stored.attribute_values.items()
        if value is not None and name != MODEL_WRITE
    }
    for name in ("email_subscription_topics", "sms_subscription_topics"):
        if name in item:
            item[name] = list(item[name])
    item.setdefault(MUTED_AT, None)
    return item
