"""import-file's composition root: its settings, read once, and the adapters built from them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple

from cio_sync.adapters.aws import aws_client
from cio_sync.adapters.import_storage import S3ReportStore, S3Uploads
from cio_sync.adapters.sqs import SqsChunkQueue
from cio_sync.environment import Environment
from cio_sync.imports.plan import ChunkQueue, PlanLimits, Uploads
from cio_sync.imports.settle import ReportStore


class ImportFileSettings(NamedTuple):
    bucket: str
    chunk_queue_url: str
    max_bytes: int  # a larger upload is rejected whole

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ImportFileSettings:
        env = Environment(environ)
        return cls(
            bucket=env.text("IMPORT_BUCKET"),
            chunk_queue_url=env.text("IMPORT_CHUNK_QUEUE_URL"),
            max_bytes=env.count("IMPORT_MAX_BYTES"),
        )


class ImportFileRuntime(NamedTuple):
    uploads: Uploads
    store: ReportStore
    queue: ChunkQueue
    limits: PlanLimits


def build(settings: ImportFileSettings) -> ImportFileRuntime:
    s3 = aws_client("s3")
    return ImportFileRuntime(
        uploads=S3Uploads(s3),
        store=S3ReportStore(s3, settings.bucket),
        queue=SqsChunkQueue(aws_client("sqs"), settings.chunk_queue_url),
        limits=PlanLimits(max_bytes=settings.max_bytes),
    )
