"""The operator's model writes (sign-ups, changes, mutes, deletion, scans): no function makes them, so they
live beside the CLI, on the runtime's member table adapter.

Writes are conditional UpdateItem calls that SET or REMOVE only what changed, so attributes written by
other services survive, and they are optimistic on `updated_at`: every write stamps a new one, and a
write whose `updated_at` moved since it was read is retried on a fresh read (the rules depend on the old
item, so they are re-applied, not replayed).

The item read may still lack a rule decision the stream function owes an earlier raw write. So each write
also stamps `model_write` with the rule inputs its caller set, and the stream decides the write again from
exactly those, on the item as the rules left it (members/raw_writes.py): model writes then have the same
write-by-write semantics as raw writes (docs/pipeline.md, "Racing raw writes").
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, Final, cast

from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from cio_sync.adapters.member_model import to_item, write_value
from cio_sync.adapters.member_table import MemberRepository, condition_failed, next_token
from cio_sync.members.contract import (
    CONTRACT_FIELDS,
    InvalidMember,
    MemberItem,
    is_member_id,
    validate_fields,
    validate_member,
    without_absent,
)
from cio_sync.members.errors import ConcurrentWriteError, MemberExists, MemberNotFound
from cio_sync.members.raw_writes import RULE_INPUTS, model_write_marker
from cio_sync.members.subscriptions import (
    MUTED_AT,
    admin_mute,
    apply_subscription_rules,
    deletion_request,
    sms_signup,
    web_signup,
)

# Written even when unchanged: the concurrency token every write stamps.
_ALWAYS_SET: Final = frozenset({"updated_at"})

Build = Callable[[MemberItem, str], MemberItem]


def _validate_write(old: MemberItem, new: MemberItem) -> None:
    """Check what the write sets and the rule inputs it leaves (the stream decides the write from them), not
    the whole item: a legacy value in an unrelated field (a 10-digit mobile, an old created_at) must not
    hold back a mute or a deletion request. InvalidMember names the field, never its value."""
    validate_fields(new, RULE_INPUTS)
    validate_fields(new, sorted(name for name in new if name not in old or old[name] != new[name]))


class MemberAdmin(MemberRepository):
    """MemberRepository plus the writes only an operator (or a test) makes, each through the rules."""

    def scan_ids(self, page_size: int = 500) -> Iterator[str]:
        """Every member id, read page by page (projection on `id` only) for the reconcile job."""
        for stored in self.model.scan(attributes_to_get=["id"], page_size=page_size):
            yield stored.id

    # --- creation ------------------------------------------------------------------------------------

    def create_web_signup(self, fields: Mapping[str, Any]) -> MemberItem:
        return self._create(web_signup(fields, self._clock()))

    def create_sms_signup(self, fields: Mapping[str, Any]) -> MemberItem:
        return self._create(sms_signup(fields, self._clock()))

    def _create(self, item: MemberItem) -> MemberItem:
        """A new item never races an earlier write of its own, so it needs no `model_write`."""
        validate_member(item)
        stored = self.model(**item)
        try:
            stored.save(condition=self.model.id.does_not_exist())
        except PutError as error:
            if condition_failed(error):
                raise MemberExists(item["id"]) from None
            raise
        return to_item(stored)

    # --- updates -------------------------------------------------------------------------------------

    def update(self, member_id: str, changes: Mapping[str, Any]) -> MemberItem:
        """Apply `changes` through the rules. None removes a field (`promotions_muted_at`: stores null)."""
        unknown = sorted(name for name in changes if name not in CONTRACT_FIELDS)
        if unknown:
            raise InvalidMember(unknown[0][:64], "is not an attribute of the member contract")
        if changes.get("id", member_id) != member_id:
            raise InvalidMember("id", "cannot be changed")
        validate_fields(changes, RULE_INPUTS)  # the marker carries them, even where the rules replace them

        def build(old: MemberItem, now: str) -> MemberItem:
            return apply_subscription_rules(old, {**old, **changes}, now)

        return self._modify(member_id, build, stated=changes)

    def admin_mute(self, member_id: str) -> MemberItem:
        return self._modify(member_id, admin_mute, stated=[MUTED_AT])

    def request_deletion(self, member_id: str) -> MemberItem:
        """The request sets every subscription input (and the mute): the stream re-decides all of them."""
        return self._modify(member_id, deletion_request, stated=RULE_INPUTS)

    def delete(self, member_id: str) -> None:
        """Remove the item (the stream then deletes the profile). Deleting a missing member is fine."""
        if not is_member_id(member_id):
            raise InvalidMember("id", "must be 24 lowercase hexadecimal characters")
        self.model(member_id).delete()

    def _modify(self, member_id: str, build: Build, stated: Collection[str]) -> MemberItem:
        for _ in range(self._max_attempts):
            old = self.get(member_id, consistent=True)
            if old is None:
                raise MemberNotFound(member_id)
            now = self._clock()
            new = without_absent(build(old, now))
            new["updated_at"] = next_token(old.get("updated_at"), now)
            _validate_write(old, new)
            written = self._write_if_unchanged(old, new, stated)
            if written is not None:
                return written
        raise ConcurrentWriteError(member_id, self._max_attempts)

    def _write_if_unchanged(
        self, old: MemberItem, new: MemberItem, stated: Collection[str]
    ) -> MemberItem | None:
        """SET what changed, REMOVE what went, only if `updated_at` is still what we read."""
        model = self.model
        actions: list[Action] = [model.model_write.set(model_write_marker(new["updated_at"], stated))]
        for name in sorted((set(old) | set(new)) - {"id"}):
            if name not in new:
                actions.append(getattr(model, name).remove())
            elif name not in old or old[name] != new[name] or name in _ALWAYS_SET:
                actions.append(write_value(getattr(model, name), name, new[name]))
        stored = model(old["id"])
        try:
            stored.update(actions=actions, condition=self._unchanged_since(old))
        except UpdateError as error:
            if condition_failed(error):
                return None
            raise
        return to_item(stored)

    def _unchanged_since(self, old: MemberItem) -> Condition:
        model = self.model
        token = old.get("updated_at")
        unchanged = model.updated_at.does_not_exist() if token is None else model.updated_at == token
        return cast(Condition, model.id.exists() & unchanged)
