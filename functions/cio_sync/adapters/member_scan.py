"""The profile sweep's table scan: every member, only the fields eligibility reads, in parallel segments.

A Scan of its own (not MemberRepository.scan_ids) because the sweep needs a projection of several fields
and segments read side by side to fit a large table into one invocation. Read units are charged on the
whole items read, whatever the projection (docs/sweep.md gives the cost).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import AttributeDeserializationError

from cio_sync.adapters.aws import aws_client
from cio_sync.adapters.member_model import CONNECT_TIMEOUT_S, MAX_RETRY_ATTEMPTS, READ_TIMEOUT_S, to_item
from cio_sync.adapters.member_table import MemberRepository
from cio_sync.failures import TransientFailure
from cio_sync.members.contract import MemberItem

SCAN_SEGMENTS: Final = 4
# The member model's own limits (adapters/member_model.py), on the client that runs the parallel Scan.
CLIENT_CONFIG: Final = Config(
    retries={"mode": "standard", "max_attempts": MAX_RETRY_ATTEMPTS},
    connect_timeout=CONNECT_TIMEOUT_S,
    read_timeout=READ_TIMEOUT_S,
)

Page = tuple[list[dict[str, Any]], dict[str, Any] | None]


class ScanMembers:
    """Segments are read a page each at a time, side by side: memory stays at a page per segment."""

    def __init__(
        self,
        repository: MemberRepository,
        fields: Sequence[str],
        *,
        segments: int = SCAN_SEGMENTS,
        client: Any = None,
    ) -> None:
        self._model = repository.model
        self._fields = list(fields)
        self._segments = segments
        self._client = client
        self._creating = threading.Lock()  # the segments' first pages ask for the client at once

    def scan_eligibility(self) -> Iterator[MemberItem]:
        cursors: dict[int, dict[str, Any] | None] = dict.fromkeys(range(self._segments))
        with ThreadPoolExecutor(max_workers=self._segments, thread_name_prefix="member-scan") as pool:
            while cursors:
                active = list(cursors)
                pages = pool.map(lambda segment: self._page(segment, cursors[segment]), active)
                for segment, (items, last_key) in zip(active, list(pages), strict=True):
                    for raw in items:
                        item = self._item(raw)
                        if item is not None:
                            yield item
                    if last_key is None:
                        del cursors[segment]
                    else:
                        cursors[segment] = last_key

    def _page(self, segment: int, start_key: dict[str, Any] | None) -> Page:
        names = {f"#a{index}": name for index, name in enumerate(self._fields)}
        request: dict[str, Any] = {
            "TableName": self._model.Meta.table_name,
            "Segment": segment,
            "TotalSegments": self._segments,
            "ProjectionExpression": ", ".join(names),
            "ExpressionAttributeNames": names,
        }
        if start_key is not None:
            request["ExclusiveStartKey"] = start_key
        try:
            response = self._dynamodb().scan(**request)
        except ClientError as error:
            raise TransientFailure(f"member table: {error.response.get('Error', {}).get('Code')}") from error
        except BotoCoreError as error:
            raise TransientFailure(f"member table: {type(error).__name__}") from error
        return list(response.get("Items", [])), response.get("LastEvaluatedKey")

    def _item(self, raw: dict[str, Any]) -> MemberItem | None:
        """An item the model cannot read is left out: the stream parks it, the sweep only counts members."""
        try:
            return to_item(self._model.from_raw_data(raw))
        except (AttributeDeserializationError, ValueError, TypeError, KeyError):
            return None

    def _dynamodb(self) -> Any:
        with self._creating:
            if self._client is None:
                meta = self._model.Meta
                self._client = aws_client(
                    "dynamodb", endpoint_url=meta.host, region_name=meta.region, config=CLIENT_CONFIG
                )
            return self._client
