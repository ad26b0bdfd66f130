"""A purge sent after its id signed up again: the track invocation that read the purge stalled past its
visibility timeout while the lane went on, so its suppression may land after the new member's identify,
and Customer.io would then refuse their every identify (and the sweep's re-create too).

So after a batch that suppressed members it read as missing, they are read again (consistently): one there
again is unsuppressed and identified at once. A sign-up written after that read is synced after it, and its
own sync unsuppresses first (erasure.py). A restore Customer.io does not take sends the purge's message back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from cio_sync.customerio.batch import Operation
from cio_sync.members.contract import MemberItem
from cio_sync.members.profile import ProfileAttributes
from cio_sync.observability import logger
from cio_sync.pipeline.batch_isolation import TrackSender
from cio_sync.pipeline.consent_identify import TopicMap
from cio_sync.pipeline.desired_profiles import desired_profiles
from cio_sync.sync.intents import Intent

BuildOperations = Callable[[str, ProfileAttributes, int, TopicMap | None, bool | None], list[Operation]]


def restore_recreated(
    sender: TrackSender,
    erase: Mapping[str, bool],
    read: Mapping[str, MemberItem],
    decoded: Sequence[tuple[int, Sequence[Intent]]],
    *,
    read_again: Callable[[Sequence[str]], Mapping[str, MemberItem]],
    build: BuildOperations,
    clock: Callable[[], float],
    deadline: float | None,
    topic_map: TopicMap | None,
) -> dict[int, str]:
    """Unsuppress and identify each member suppressed as missing who is there again; returns the messages
    (by index) of members whose restore Customer.io did not take, to come back."""
    missing = sorted(member_id for member_id, suppress in erase.items() if suppress and member_id not in read)
    if not missing:
        return {}
    sent_at_s = int(clock())  # before the read: its stamps are never later than a write it did not see
    again = read_again(missing)
    desired, _ = desired_profiles(list(again), again)
    operations = [
        operation
        for member_id, payload in desired.items()
        if payload is not None
        for operation in build(member_id, payload, sent_at_s, topic_map, False)
    ]
    if not operations:
        return {}
    logger.warning("members re-created during their erasure restored", extra={"count": len(desired)})
    result = sender.send_batch(operations, deadline)
    unrestored = {operations[index].member_id for index in result.failed_indices}
    return {
        index: "re-created during its erasure: Customer.io did not take the unsuppress and identify"
        for index, intents in decoded
        if any(intent.member_id in unrestored for intent in intents)
    }
