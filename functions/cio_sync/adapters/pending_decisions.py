"""DynamoDB adapter: rule decisions a later write overtook, kept until the later record is handled.

Items live in the idempotency table as `rules#<member id>#<token>` with the rule outputs as JSON and a
TTL past the stream's 24-hour retention (the later record cannot come after that). Ids, subscription
flags, topics and a mute time only: no personal data.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from cio_sync.failures import TransientFailure
from cio_sync.pipeline.member_stream import DecisionsNotKept, PendingDecision

KEY_PREFIX: Final = "rules"
TTL_SECONDS: Final = 3 * 24 * 3600
_GET_BATCH: Final = 100
_WRITE_BATCH: Final = 25
_ATTEMPTS: Final = 5


def pending_key(member_id: str, token: str) -> str:
    return f"{KEY_PREFIX}#{member_id}#{token}"


class DynamoPendingDecisions:
    def __init__(
        self,
        client: Any,
        table_name: str,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock
        self._sleep = sleep

    def find(self, wanted: Sequence[tuple[str, str]]) -> list[PendingDecision]:
        """Consistent reads: the decision may have been kept a moment ago by the previous invocation."""
        found: list[PendingDecision] = []
        keys = [{"id": {"S": pending_key(member_id, token)}} for member_id, token in wanted]
        for start in range(0, len(keys), _GET_BATCH):
            request: dict[str, Any] = {
                self._table: {"Keys": keys[start : start + _GET_BATCH], "ConsistentRead": True}
            }
            for attempt in range(_ATTEMPTS):
                response = self._call("batch_get_item", RequestItems=request)
                found.extend(_decision(item) for item in response.get("Responses", {}).get(self._table, []))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._sleep(0.05 * 2**attempt)
            if request:
                raise TransientFailure("pending decisions: reads still unprocessed after retries")
        return found

    def keep(self, decisions: Sequence[PendingDecision]) -> None:
        expiration = str(int(self._clock()) + TTL_SECONDS)
        unique = {pending_key(d.member_id, d.token): d for d in decisions}
        puts, refused = [], []
        for key, decision in unique.items():
            try:
                outputs = json.dumps(decision.outputs, sort_keys=True)
            except (TypeError, ValueError):  # a value JSON cannot hold: the others are kept all the same
                refused.append(decision)
                continue
            item = {
                "id": {"S": key},
                "member_id": {"S": decision.member_id},
                "token": {"S": decision.token},
                "outputs": {"S": outputs},
                "expiration": {"N": expiration},
            }
            puts.append({"PutRequest": {"Item": item | _status_before(decision)}})
        for start in range(0, len(puts), _WRITE_BATCH):
            request: dict[str, Any] = {self._table: puts[start : start + _WRITE_BATCH]}
            for attempt in range(_ATTEMPTS):
                response = self._call("batch_write_item", RequestItems=request)
                request = response.get("UnprocessedItems") or {}
                if not request:
                    break
                self._sleep(0.05 * 2**attempt)
            if request:
                raise TransientFailure("pending decisions: writes still unprocessed after retries")
        if refused:
            raise DecisionsNotKept(refused)

    def _call(self, operation: str, **arguments: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = getattr(self._client, operation)(**arguments)
        except (ClientError, BotoCoreError) as error:
            code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
            raise TransientFailure(f"pending decisions: {code or type(error).__name__}") from error
        return response


def _status_before(decision: PendingDecision) -> dict[str, Any]:
    status = decision.email_status_before
    return {} if status is None else {"email_status_before": {"BOOL": status}}


def _decision(item: dict[str, Any]) -> PendingDecision:
    return PendingDecision(
        member_id=item["member_id"]["S"],
        token=item["token"]["S"],
        outputs=json.loads(item["outputs"]["S"]),
        email_status_before=item.get("email_status_before", {}).get("BOOL"),
    )
