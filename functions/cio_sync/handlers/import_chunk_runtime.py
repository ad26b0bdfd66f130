"""import-chunk's composition root: its settings, read once, and the adapters built from them."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import NamedTuple

from cio_sync.adapters.aws import aws_client
from cio_sync.adapters.import_storage import DynamoRowClaims, S3ReportStore
from cio_sync.adapters.member_table import MemberRepository
from cio_sync.environment import Environment
from cio_sync.imports.chunk import Members, RowClaims
from cio_sync.imports.settle import ReportStore
from cio_sync.members.contract import utc_now_iso


class ImportChunkSettings(NamedTuple):
    region: str
    bucket: str  # reports and parts
    member_table: str
    idempotency_table: str  # row claims

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ImportChunkSettings:
        env = Environment(environ)
        return cls(
            region=env.text("AWS_REGION"),
            bucket=env.text("IMPORT_BUCKET"),
            member_table=env.text("MEMBER_TABLE_NAME"),
            idempotency_table=env.text("IDEMPOTENCY_TABLE_NAME"),
        )


class ImportChunkRuntime(NamedTuple):
    claims: RowClaims
    members: Members
    store: ReportStore
    now: Callable[[], str] = utc_now_iso  # stamps the mutes (promotions_muted_at)


def build(settings: ImportChunkSettings) -> ImportChunkRuntime:
    members = MemberRepository(settings.member_table, region=settings.region)
    return ImportChunkRuntime(
        claims=DynamoRowClaims(
            aws_client("dynamodb"), settings.idempotency_table, members.mute_request, members.restamp_request
        ),
        members=members,
        store=S3ReportStore(aws_client("s3"), settings.bucket),
    )
