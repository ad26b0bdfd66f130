"""The member table as the functions use it (pynamodb): reads, the stream function's rule decisions and
the import's mute. The operator's model writes (sign-ups, changes, deletion) build on this in the
operator CLI's package, which never ships: no function makes them.

Every write here is a conditional UpdateItem that never creates an item and stamps a new `updated_at`, so
the stream sees it and other writers' attributes survive.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Final, Literal, NoReturn, cast

from pynamodb.connection import TableConnection
from pynamodb.exceptions import (
    AttributeDeserializationError,
    DoesNotExist,
    GetError,
    PutError,
    PynamoDBException,
    UpdateError,
)
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from cio_sync.adapters.member_model import (
    bind_member_model,
    still_holds,
    table_connection,
    to_item,
    write_value,
)
from cio_sync.failures import TransientFailure
from cio_sync.members.contract import (
    InvalidMember,
    MemberItem,
    is_iso_timestamp,
    is_member_id,
    parse_iso,
    to_iso,
    utc_now_iso,
    validate_fields,
)
from cio_sync.members.errors import UnreadableMembers
from cio_sync.members.raw_writes import MODEL_WRITE
from cio_sync.members.subscriptions import MUTED_AT

MuteOutcome = Literal["muted", "already_muted", "not_found"]
CONDITION_FAILED: Final = "ConditionalCheckFailedException"
DEFAULT_MAX_ATTEMPTS: Final = 5
BATCH_GET_KEYS: Final = 100  # DynamoDB's limit per BatchGetItem
# Unprocessed keys are asked again 4 times, pausing 0.05 + 0.1 + 0.2 + 0.4 s: at most 0.75 s a call, 7.5 s
# for the profile sweep's 10 calls a page, well inside the 30 s it keeps before its deadline.
BATCH_GET_ATTEMPTS: Final = 5
BATCH_GET_PAUSE_S: Final = 0.05
BATCH_GET_MAX_PAUSE_S: Final = 0.4
UNTYPED_VERSION_FIELDS: Final = ("created_at", MODEL_WRITE)  # not in the contract's rule inputs


def condition_failed(error: PutError | UpdateError) -> bool:
    return error.cause_response_code == CONDITION_FAILED


# DynamoDB refusing the request itself (an item over 400 KB, a malformed value): no retry can help.
_REFUSED_CODES: Final = frozenset({"ValidationException", "ItemCollectionSizeLimitExceededException"})


def raise_for(error: PynamoDBException) -> NoReturn:
    """A refused request as it is; throttling, outages, a missing grant or table: they may pass, so a
    TransientFailure (the work is retried, and alarmed)."""
    if error.cause_response_code in _REFUSED_CODES:
        raise error
    raise TransientFailure(f"member table: {error.cause_response_code or type(error).__name__}") from error


class MemberRepository:
    """Reads members; writes only what the functions write (see the module docstring)."""

    def __init__(
        self,
        table_name: str,
        endpoint_url: str | None = None,
        *,
        region: str | None = None,
        clock: Callable[[], str] = utc_now_iso,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model = bind_member_model(table_name, endpoint_url, region)
        self._clock = clock
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._table: TableConnection | None = None

    def create_table(self) -> None:
        """For tests and the local stack only: on AWS the table comes from template.yaml."""
        self.model.create_table(wait=True)

    # --- reads ---------------------------------------------------------------------------------------

    def get(self, member_id: str, consistent: bool = True) -> MemberItem | None:
        """The stored member, or None. `promotions_muted_at` is always present (None when null or absent)."""
        if not is_member_id(member_id):
            return None
        try:
            stored = self.model.get(member_id, consistent_read=consistent)
        except DoesNotExist:
            return None
        return to_item(stored)

    def get_many(self, member_ids: Sequence[str]) -> dict[str, MemberItem]:
        """Consistent reads of many members (BatchGetItem, 100 keys a call); absent ids are left out."""
        wanted = sorted({member_id for member_id in member_ids if is_member_id(member_id)})
        try:
            return {
                stored.id: to_item(stored)
                for stored in self.model.batch_get(wanted, consistent_read=True)  # pynamodb pages and retries
            }
        except AttributeDeserializationError:
            return self._get_each(wanted)

    def _get_each(self, member_ids: Sequence[str]) -> dict[str, MemberItem]:
        """One bad item must not hide the others: read them one by one and name the unreadable ones."""
        readable: dict[str, MemberItem] = {}
        unreadable: list[str] = []
        for member_id in member_ids:
            try:
                member = self.get(member_id)
            except AttributeDeserializationError:
                unreadable.append(member_id)
                continue
            if member is not None:
                readable[member_id] = member
        if unreadable:
            raise UnreadableMembers(readable, unreadable)
        return readable

    def batch_read(
        self, member_ids: Sequence[str], attributes: Sequence[str] | None = None
    ) -> dict[str, MemberItem]:
        """Consistent reads with BatchGetItem alone (100 keys a call), each item read on its own;
        `attributes`: only these (a projection), else the whole item.

        Unlike `get_many`, an item that breaks the model is named (UnreadableMembers) without a GetItem per
        member: the profile sweep's role may call nothing but BatchGetItem. Keys DynamoDB leaves
        unprocessed are asked again with a growing pause; throttling that outlasts it is a
        TransientFailure, like every other storage failure that may pass.
        """
        wanted = sorted({member_id for member_id in member_ids if is_member_id(member_id)})
        readable: dict[str, MemberItem] = {}
        unreadable: list[str] = []
        for start in range(0, len(wanted), BATCH_GET_KEYS):
            for raw in self._batch_get(wanted[start : start + BATCH_GET_KEYS], attributes):
                member_id = (raw.get("id") or {}).get("S")
                try:
                    readable[str(member_id)] = to_item(self.model.from_raw_data(raw))
                except (AttributeDeserializationError, ValueError, TypeError, KeyError):
                    unreadable.append(str(member_id))
        if unreadable:
            raise UnreadableMembers(readable, sorted(unreadable))
        return readable

    def _batch_get(self, member_ids: Sequence[str], attributes: Sequence[str] | None) -> list[dict[str, Any]]:
        table = self.model.Meta.table_name
        # Key mappings, as pynamodb's own Model.batch_get passes them (its annotation says str).
        wanted: Any = [{"id": member_id} for member_id in member_ids]
        items: list[dict[str, Any]] = []
        for attempt in range(BATCH_GET_ATTEMPTS):
            try:
                response = self._connection().batch_get_item(
                    wanted, consistent_read=True, attributes_to_get=list(attributes) if attributes else None
                )
            except GetError as error:
                raise_for(error)
            items.extend(response.get("Responses", {}).get(table, []))
            # Asked again as DynamoDB returned them (typed values, which pynamodb passes on as they are).
            wanted = (response.get("UnprocessedKeys") or {}).get(table, {}).get("Keys", [])
            if not wanted:
                return items
            if attempt + 1 < BATCH_GET_ATTEMPTS:  # no pause after the last try
                self._sleep(min(BATCH_GET_MAX_PAUSE_S, BATCH_GET_PAUSE_S * 2**attempt))
        raise TransientFailure("member table: keys left unprocessed (throttled)")

    # --- raw writes: the stream function's rule decisions and the import's mute ------------------------

    def write_rule_decisions(
        self, member_id: str, expected: Mapping[str, Any], decided: Mapping[str, Any]
    ) -> bool:
        """Write what the subscription rules decided for a raw write, only while its inputs stand.

        `expected` holds every rule input and the version fields (`updated_at`, `created_at`, the model
        write marker) as the stream record showed them, `decided` the rule outputs to write. The write is
        conditional on each still holding its value, so a decision never lands on a later write or a
        later life of the id; False then (the later write's record carries it). An unrelated invalid
        attribute (a legacy phone number; a `created_at` that is no string, left out) must not keep a
        mute or a resubscribe from being applied: only the written attributes are checked.
        """
        changed = sorted(name for name in decided if name != "id")
        if not changed or not is_member_id(member_id):
            return False
        validate_fields(decided, changed)
        model = self.model
        condition: Condition = model.id.exists()
        for name, value in sorted(expected.items()):
            if name in UNTYPED_VERSION_FIELDS and not (value is None or isinstance(value, str)):
                continue  # a legacy value of another type: updated_at still names the version
            condition = condition & still_holds(getattr(model, name), value)
        actions: list[Action] = [model.updated_at.set(next_token(expected.get("updated_at"), self._clock()))]
        actions.extend(write_value(getattr(model, name), name, decided[name]) for name in changed)
        return self.update_if(member_id, actions, condition)

    def update_if(self, member_id: str, actions: Sequence[Action], condition: Condition) -> bool:
        """One conditional UpdateItem returning nothing (a role limited to the attributes it writes may
        read none back); False when the condition failed. The building block of every raw write here."""
        try:
            self._connection().update_item(
                member_id, actions=list(actions), condition=condition, return_values="NONE"
            )
        except UpdateError as error:
            if condition_failed(error):
                return False
            raise_for(error)
        return True

    def _connection(self) -> TableConnection:
        if self._table is None:
            self._table = table_connection(self.model)
        return self._table

    def mute_if_not_muted(self, member_id: str, now: str) -> MuteOutcome:
        """Mute a member unless already muted; never creates an item, never moves an existing mute time."""
        if not is_iso_timestamp(now):
            raise InvalidMember("promotions_muted_at", "must be an ISO-8601 UTC timestamp")
        if not is_member_id(member_id):
            return "not_found"
        if self.update_if(member_id, self._mute_actions(now), self._mute_condition()):
            return "muted"
        current = self.get(member_id)
        if current is None:
            return "not_found"
        # The same mute time means this very import muted the member before (a redelivered chunk).
        return "muted" if current.get(MUTED_AT) == now else "already_muted"

    def mute_request(self, member_id: str, now: str) -> dict[str, Any]:
        """`mute_if_not_muted`'s conditional update as low-level UpdateItem parameters (a TransactWriteItems
        `Update`), for a writer that must mute atomically with a write of its own: same condition and SETs."""
        if not is_iso_timestamp(now):
            raise InvalidMember("promotions_muted_at", "must be an ISO-8601 UTC timestamp")
        if not is_member_id(member_id):
            raise InvalidMember("id", "must be 24 lowercase hexadecimal characters")
        stored = self.model(member_id)
        return stored.get_update_kwargs_from_instance(
            actions=self._mute_actions(now), condition=self._mute_condition(), add_version_condition=False
        )

    def restamp_request(self, member_id: str, now: str, seen_muted_at: str) -> dict[str, Any]:
        """A member found muted at `seen_muted_at` gets `now` instead, as UpdateItem parameters for a
        transaction: the import's mute is then a write the stream can see (docs/pipeline.md, "Racing raw
        writes"), and a resubscribe decided for an earlier raw write cannot undo it. Only while that mute
        time still stands."""
        if not is_iso_timestamp(now):
            raise InvalidMember("promotions_muted_at", "must be an ISO-8601 UTC timestamp")
        if not is_member_id(member_id):
            raise InvalidMember("id", "must be 24 lowercase hexadecimal characters")
        model = self.model
        condition = cast(Condition, model.id.exists() & (model.promotions_muted_at == seen_muted_at))
        return self.model(member_id).get_update_kwargs_from_instance(
            actions=self._mute_actions(now), condition=condition, add_version_condition=False
        )

    def _mute_actions(self, now: str) -> list[Action]:
        model = self.model
        return [model.promotions_muted_at.set(now), model.updated_at.set(self._clock())]

    def _mute_condition(self) -> Condition:
        """The member exists and is not muted: a mute never creates an item nor moves a mute time."""
        return cast(Condition, self.model.id.exists() & still_holds(self.model.promotions_muted_at, None))


def next_token(previous: object, now: str) -> str:
    """`now`, or just after `previous` when that is not earlier: the token changes on every write and
    never goes back, even past a value a writer with a clock running ahead left on the item."""
    if not isinstance(previous, str) or not is_iso_timestamp(previous):
        return now
    after_previous = parse_iso(previous, "updated_at") + timedelta(microseconds=1)
    return now if parse_iso(now, "updated_at") >= after_previous else to_iso(after_previous)


class BatchReadMembers:
    """The profile sweep's MemberReader: consistent BatchGetItem only (`MemberRepository.batch_read`),
    and only the `attributes` it needs (None: whole items, for the attribute check's payloads)."""

    def __init__(self, repository: MemberRepository, attributes: Sequence[str] | None = None) -> None:
        self._repository = repository
        self._attributes = attributes

    def get_many(self, member_ids: Sequence[str]) -> dict[str, MemberItem]:
        return self._repository.batch_read(member_ids, self._attributes)
