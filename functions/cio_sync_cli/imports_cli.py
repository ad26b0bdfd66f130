"""`cio-sync imports upload` and `cio-sync imports status`: start a Mute Promotions import, follow its report.

The bucket comes from --bucket, else the target (cio_sync_cli.target): the `--stack` CloudFormation
stack's ImportBucketName output, else IMPORT_BUCKET, else the running local stack's `.local/stack.json`;
the endpoint from AWS_ENDPOINT_URL, else the local stack's (none: AWS itself). One resolution for
every command: cio_sync_cli.target.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from cio_sync.imports.report import (
    DRY_RUN_PREFIX,
    UPLOAD_PREFIX,
    ImportReport,
    MalformedReport,
    import_id_for,
    rejected_csv_key,
    report_key,
)
from cio_sync_cli.errors import CommandError
from cio_sync_cli.target import OpsTarget, add_target_argument
from cio_sync_cli.target import resolve_target as resolve_ops_target

DEFAULT_WAIT_S: Final = 600.0
POLL_INTERVAL_S: Final = 1.0


def add_imports_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `imports upload` and `imports status` on the `cio-sync` parser (handlers as `handler`)."""
    imports = subparsers.add_parser(
        "imports", help="Mute Promotions imports: upload a CSV, follow its report", description=__doc__
    )
    commands = imports.add_subparsers(dest="imports_command", metavar="COMMAND", required=True)

    upload = commands.add_parser(
        "upload", help="upload a CSV with a northstar_id column; prints the import id"
    )
    upload.add_argument("file", type=Path, help="the CSV file")
    upload.add_argument("--dry-run", action="store_true", help="report what would happen; mute nobody")
    upload.add_argument("--bucket", help="the imports bucket (default: the target's, see --stack)")
    add_target_argument(upload)
    upload.set_defaults(handler=run_upload)

    status = commands.add_parser(
        "status", help="print an import's report (exit status 1 when the file was rejected)"
    )
    status.add_argument("import_id", help="what `imports upload` printed")
    status.add_argument("--wait", action="store_true", help="show progress until the import is finished")
    status.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_WAIT_S,
        help=f"give up waiting after S seconds ({DEFAULT_WAIT_S:g})",
    )
    status.add_argument("--bucket", help="the imports bucket (default: the target's, see --stack)")
    add_target_argument(status)
    status.add_argument("--interval", type=float, default=POLL_INTERVAL_S, help=argparse.SUPPRESS)
    status.set_defaults(handler=run_status)


def resolve_target(bucket: str | None, stack_file: Path | None = None, stack: str | None = None) -> OpsTarget:
    """The one target resolution (cio_sync_cli.target), with --bucket taking precedence for the bucket."""
    target = resolve_ops_target(stack, stack_file=stack_file)
    chosen = bucket or target.bucket
    if not chosen:
        raise CommandError(
            "no imports bucket: pass --bucket or --stack, set IMPORT_BUCKET, "
            "or start the local stack (make run)"
        )
    return replace(target, bucket=chosen)


def _bucket(target: OpsTarget) -> str:
    if not target.bucket:
        raise CommandError("no imports bucket: pass --bucket or --stack")
    return target.bucket


@contextmanager
def aws_errors(target: OpsTarget) -> Iterator[None]:
    """Turn the expected S3 failures into one-line CommandErrors that name the bucket."""
    try:
        yield
    except EndpointConnectionError:
        where = target.endpoint_url or "AWS"
        raise CommandError(f"cannot reach S3 at {where}: is the local stack running (make run)?") from None
    except NoCredentialsError:
        raise CommandError("no AWS credentials: configure a profile or AWS_ACCESS_KEY_ID") from None
    except NoRegionError:
        raise CommandError("no AWS region: set AWS_DEFAULT_REGION") from None
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "unknown")
        if code == "NoSuchBucket":
            raise CommandError(f"bucket {target.bucket} does not exist") from None
        raise CommandError(f"S3 refused the request ({code})") from None
    except BotoCoreError as error:
        raise CommandError(f"AWS request failed ({type(error).__name__})") from None


def upload_key(path: Path, dry_run: bool) -> str:
    return f"{DRY_RUN_PREFIX if dry_run else UPLOAD_PREFIX}{path.name}"


def run_upload(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        raise CommandError(f"{path}: no such file")
    target = resolve_target(args.bucket, stack=args.stack)
    bucket = _bucket(target)
    key = upload_key(path, args.dry_run)
    with aws_errors(target), path.open("rb") as body:
        response = target.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv")
    import_id = import_id_for(bucket, key, str(response["ETag"]))
    if args.json:
        print(json.dumps({"import_id": import_id, "bucket": bucket, "key": key, "dry_run": args.dry_run}))
    else:
        print(import_id)
    kind = "dry run" if args.dry_run else "import"
    follow = f"cio-sync imports status {import_id} --wait"
    print(f"uploaded s3://{bucket}/{key} ({kind}); follow it with: {follow}", file=sys.stderr)
    return 0


def run_status(args: argparse.Namespace) -> int:
    target = resolve_target(args.bucket, stack=args.stack)
    bucket = _bucket(target)
    with aws_errors(target):
        client = target.client("s3")

        def read() -> ImportReport | None:
            return read_report(client, bucket, args.import_id)

        report = wait_for_report(read, args.timeout, args.interval, _progress) if args.wait else read()
    if report is None:
        raise CommandError(
            f"no report for import {args.import_id} yet: it has not started, or the id is wrong"
        )
    print(report.to_json(), end="")
    if report.status == "completed" and sum(report.counts.values()) > report.counts["muted"]:
        print(f"rows not muted: s3://{bucket}/{rejected_csv_key(report.import_id)}", file=sys.stderr)
    return 1 if report.status == "rejected" else 0


def read_report(client: Any, bucket: str, import_id: str) -> ImportReport | None:
    try:
        body = client.get_object(Bucket=bucket, Key=report_key(import_id))["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    try:
        return ImportReport.from_json(body)
    except MalformedReport as error:
        raise CommandError(f"the report of import {import_id} is malformed: {error}") from None


def wait_for_report(
    read: Callable[[], ImportReport | None],
    timeout: float,
    interval: float,
    show: Callable[[str], None],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ImportReport:
    """Poll until the import is completed or rejected, showing each change of progress once."""
    deadline = clock() + timeout
    shown = ""
    while True:
        report = read()
        line = describe_progress(report)
        if line != shown:
            show(line)
            shown = line
        if report is not None and report.is_final:
            return report
        if clock() >= deadline:
            raise CommandError(f"gave up after {timeout:g} s: {line}")
        sleep(interval)


def describe_progress(report: ImportReport | None) -> str:
    if report is None:
        return "waiting for the import to start"
    if report.status == "processing":
        return f"processing: {report.chunks_done}/{report.chunks_total} chunks of {report.rows} rows"
    if report.status == "rejected":
        return f"rejected: {report.reason}"
    counts = ", ".join(f"{outcome} {number}" for outcome, number in report.counts.items())
    return f"completed: {counts}"


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
