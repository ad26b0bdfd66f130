"""`cio-sync imports upload|status|rejected|check`: start a Mute Promotions import, follow its report, read
the rows it did not mute, or check a file offline first (imports_check.py).

The bucket comes from --bucket, else the target (cio_sync_cli.target): the `--stack` CloudFormation
stack's ImportBucketName output, else IMPORT_BUCKET, else the running local stack's `.local/stack.json`;
the endpoint from AWS_ENDPOINT_URL, else the local stack's (none: AWS itself). One resolution for
every command: cio_sync_cli.target.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from cio_sync.imports.keys import DRY_RUN_PREFIX, UPLOAD_PREFIX, import_id_for, rejected_csv_key
from cio_sync.imports.report import ImportReport
from cio_sync.imports.text_lines import FileRejected
from cio_sync_cli.confirm import confirm
from cio_sync_cli.errors import CommandError
from cio_sync_cli.imports_check import DEFAULT_MAX_BYTES, check_file, rejection_json
from cio_sync_cli.imports_lookup import (
    checked_import_id,
    find_upload,
    import_id_of_file,
    read_rejected,
    read_report,
    unknown,
)
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
    upload.add_argument(
        "--again", action="store_true", help="import a file that was already imported (under a new name)"
    )
    upload.add_argument("--bucket", help="the imports bucket (default: the target's, see --stack)")
    upload.add_argument("--yes", action="store_true", help="do not ask to confirm (--dry-run never asks)")
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

    rejected = commands.add_parser("rejected", help="print the rows an import did not mute, with the reasons")
    rejected.add_argument("import_id", help="what `imports upload` printed")
    rejected.add_argument("--bucket", help="the imports bucket (default: the target's, see --stack)")
    add_target_argument(rejected)
    rejected.set_defaults(handler=run_rejected)

    check = commands.add_parser(
        "check", help="what the import would make of a CSV, offline (exit status 1 when it would be rejected)"
    )
    check.add_argument("file", type=Path, help="the CSV file")
    check.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, help=argparse.SUPPRESS)
    add_target_argument(check)
    check.set_defaults(handler=run_check)


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


def upload_key(path: Path, dry_run: bool, again_at: datetime | None = None) -> str:
    """Where the file goes; `again_at` stamps the name, so the same bytes make a new import."""
    name = path.name if again_at is None else f"{path.stem}.again-{again_at:%Y%m%dT%H%M%SZ}{path.suffix}"
    return f"{DRY_RUN_PREFIX if dry_run else UPLOAD_PREFIX}{name}"


def run_upload(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        raise CommandError(f"{path}: no such file")
    target = resolve_target(args.bucket, stack=args.stack)
    bucket = _bucket(target)
    key = upload_key(path, args.dry_run, datetime.now(UTC) if args.again else None)
    with aws_errors(target):
        client = target.client("s3")
        if not args.again:
            _refuse_an_import_done(client, bucket, import_id_of_file(bucket, key, path), key)
        if not (args.dry_run or args.yes):
            question = f"mute promotions for every member {path.name} lists, in {target.describe()}?"
            confirm(question, what="upload mutes members")
        with path.open("rb") as body:
            response = client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv")
    import_id = import_id_for(bucket, key, str(response["ETag"]))
    if args.json:
        print(json.dumps({"import_id": import_id, "bucket": bucket, "key": key, "dry_run": args.dry_run}))
    else:
        print(import_id)
    kind = "dry run" if args.dry_run else "import"
    follow = f"cio-sync imports status {import_id} --wait"
    print(f"uploaded s3://{bucket}/{key} ({kind}); follow it with: {follow}", file=sys.stderr)
    return 0


def _refuse_an_import_done(client: Any, bucket: str, import_id: str, key: str) -> None:
    """S3 would take the same bytes again, and the import (same id) would silently do nothing."""
    earlier = read_report(client, bucket, import_id)
    if earlier is not None:
        raise CommandError(
            f"s3://{bucket}/{key} with these bytes was already imported as {import_id} ({earlier.status}): "
            f"see `cio-sync imports status {import_id}`, or pass --again to import it anew"
        )


def run_status(args: argparse.Namespace) -> int:
    import_id = checked_import_id(args.import_id)
    target = resolve_target(args.bucket, stack=args.stack)
    bucket = _bucket(target)
    with aws_errors(target):
        client = target.client("s3")

        def read() -> ImportReport | None:
            return read_report(client, bucket, import_id)

        report = read()
        if report is None and find_upload(client, bucket, import_id) is None:
            raise unknown(import_id, bucket)
        if args.wait:
            report = wait_for_report(read, args.timeout, args.interval, _progress)
    if report is None:
        raise CommandError(f"import {import_id} has not started yet: try again, or add --wait")
    print(report.to_json(), end="")
    if report.status == "completed" and sum(report.counts.values()) > report.counts["muted"]:
        print(f"rows not muted: s3://{bucket}/{rejected_csv_key(report.import_id)}", file=sys.stderr)
    return 1 if report.status == "rejected" else 0


def run_rejected(args: argparse.Namespace) -> int:
    import_id = checked_import_id(args.import_id)
    target = resolve_target(args.bucket, stack=args.stack)
    bucket = _bucket(target)
    with aws_errors(target):
        client = target.client("s3")
        rows = read_rejected(client, bucket, import_id)
        report = read_report(client, bucket, import_id) if rows is None else None
        if rows is None and report is None and find_upload(client, bucket, import_id) is None:
            raise unknown(import_id, bucket)
    if rows is None:
        if report is None or not report.is_final:
            raise CommandError(
                f"import {import_id} is not finished: its rejected rows come when it completes"
            )
        if report.status == "rejected":
            raise CommandError(f"import {import_id} rejected the whole file: {report.reason}")
        print(f"import {import_id} muted every row: none rejected", file=sys.stderr)
        rows = ""
    if args.json:
        for row in csv.DictReader(io.StringIO(rows)):
            print(json.dumps(row, sort_keys=True))
    else:
        print(rows, end="")
    return 0


def run_check(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        raise CommandError(f"{path}: no such file")
    try:
        checked = check_file(path, args.max_bytes)
    except FileRejected as error:
        if args.json:
            print(rejection_json(path.name, error))
        raise CommandError(f"{path.name}: would be rejected: {error.reason}") from None
    if args.json:
        print(checked.to_json(path.name))
    else:
        for line in checked.lines(path.name):
            print(line)
    return 0


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
