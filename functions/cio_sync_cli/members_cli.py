"""`cio-sync members ...`: create, change, show, mute and delete members through the member model.

Every write goes through MemberAdmin (cio_sync_cli.member_writes), so it obeys the contract and the
subscription rules exactly as other services' writes do, and the stream syncs Customer.io afterwards.
`show` prints the item (personal data) on stdout because the operator asked for it; nothing here logs
member data.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final

from cio_sync.members.contract import (
    BOOLEAN_FIELDS,
    CONTRACT_FIELDS,
    TIMESTAMP_FIELDS,
    TOPIC_FIELDS,
    InvalidMember,
    MemberItem,
    is_member_id,
    utc_now_iso,
)
from cio_sync.members.errors import ConcurrentWriteError, MemberExists, MemberNotFound
from cio_sync_cli.confirm import confirm
from cio_sync_cli.errors import CommandError
from cio_sync_cli.explain_cli import add_explain_command
from cio_sync_cli.member_writes import MemberAdmin
from cio_sync_cli.target import OpsTarget, add_target_argument, aws_errors, resolve_target

NULL: Final = "null"
NOW: Final = "now"
# Never set by hand: the key, and the concurrency token every write stamps.
MANAGED_FIELDS: Final = frozenset({"id", "updated_at"})
BAD_ID: Final = "not a member id: expected 24 lowercase hexadecimal characters"


def add_members_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `members create|update|show|mute|delete` (handlers stored as `handler`)."""
    members = subparsers.add_parser(
        "members", help="create, change, show, mute or delete a member", description=__doc__
    )
    commands = members.add_subparsers(dest="members_command", metavar="COMMAND", required=True)
    set_help = (
        "FIELD=VALUE, repeatable; typed by the contract: true/false, comma-separated topic lists "
        "('' = empty list), 'now' for timestamps, 'null' to clear"
    )

    create = commands.add_parser("create", help="sign a member up (web or SMS); prints the new id")
    kind = create.add_mutually_exclusive_group(required=True)
    kind.add_argument("--web", dest="signup", action="store_const", const="web", help="a web sign-up")
    kind.add_argument("--sms", dest="signup", action="store_const", const="sms", help="an SMS sign-up")
    create.add_argument("--email", help="required for --web")
    create.add_argument("--mobile", help="E.164, e.g. +15555550123; required for --sms")
    create.add_argument("--first-name")
    create.add_argument("--last-name")
    create.add_argument("--id", dest="member_id", help="choose the id (default: a new one)")
    create.add_argument("--set", dest="assignments", action="append", default=[], help=set_help)
    create.set_defaults(handler=run_create)

    update = commands.add_parser("update", help="change fields; prints the member after the rules")
    update.add_argument("member_id", metavar="ID")
    update.add_argument(
        "--set", dest="assignments", action="append", required=True, metavar="FIELD=VALUE", help=set_help
    )
    update.set_defaults(handler=run_update)

    show = commands.add_parser("show", help="print the member item as JSON")
    show.add_argument("member_id", metavar="ID")
    show.set_defaults(handler=run_show)

    mute = commands.add_parser("mute", help="mute promotions (deletes the Customer.io profile)")
    mute.add_argument("member_id", metavar="ID")
    mute.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    mute.set_defaults(handler=run_mute)

    delete = commands.add_parser(
        "delete", help="a deletion request (unsubscribe and mute), or --purge to remove the item"
    )
    delete.add_argument("member_id", metavar="ID")
    how = delete.add_mutually_exclusive_group()
    how.add_argument(
        "--request", action="store_true", help="a deletion request, as the contract says (default)"
    )
    how.add_argument("--purge", action="store_true", help="remove the item from the table")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(handler=run_delete)
    add_explain_command(commands)

    for command in (create, update, show, mute, delete):
        add_target_argument(command)


# --- pure: typed assignments ---------------------------------------------------------------------------


def parse_assignments(assignments: Sequence[str], now: str | None = None) -> dict[str, Any]:
    """`FIELD=VALUE` strings -> typed contract values; the contract checks formats when written.

    Errors name the field (or the position), never the value.
    """
    changes: dict[str, Any] = {}
    for position, assignment in enumerate(assignments, start=1):
        name, separator, raw = assignment.partition("=")
        name = name.strip()
        if not separator or not name:
            raise CommandError(f"--set number {position}: expected FIELD=VALUE")
        if name not in CONTRACT_FIELDS:
            raise CommandError(f"--set: {name[:64]!r} is not an attribute of the member contract")
        if name in MANAGED_FIELDS:
            raise CommandError(f"--set: {name} cannot be set by hand")
        if name in changes:
            raise CommandError(f"--set: {name} is given twice")
        changes[name] = typed_value(name, raw, now)
    return changes


def typed_value(name: str, raw: str, now: str | None = None) -> Any:
    text = raw.strip()
    if text.lower() == NULL:
        return None
    if name in BOOLEAN_FIELDS:
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise CommandError(f"--set: {name} must be true, false or null")
        return lowered == "true"
    if name in TOPIC_FIELDS:
        return [topic.strip() for topic in text.split(",") if topic.strip()]
    if name in TIMESTAMP_FIELDS and text.lower() == NOW:
        return now or utc_now_iso()
    return text


def signup_fields(args: argparse.Namespace) -> dict[str, Any]:
    fields = parse_assignments(args.assignments)
    named = {
        "email": args.email,
        "mobile": args.mobile,
        "first_name": args.first_name,
        "last_name": args.last_name,
    }
    for name, value in named.items():
        if value is None:
            continue
        if name in fields:
            raise CommandError(f"{name} is given both as an option and with --set")
        fields[name] = value
    if args.member_id is not None:
        fields["id"] = checked_id(args.member_id)
    return fields


def checked_id(member_id: str) -> str:
    if not is_member_id(member_id):
        raise CommandError(BAD_ID)
    return member_id


def to_json(item: Mapping[str, Any]) -> str:
    return json.dumps(dict(item), indent=2, sort_keys=True)


# --- handlers: parse -> one domain call -> print ---------------------------------------------------------


def run_create(args: argparse.Namespace) -> int:
    fields = signup_fields(args)
    target = resolve_target(args.stack)
    with member_errors(target):
        members = target.members()
        item = (
            members.create_web_signup(fields) if args.signup == "web" else members.create_sms_signup(fields)
        )
    print(to_json(item) if args.json else item["id"])
    done(f"created member {item['id']}", target, f"; see it with: cio-sync members show {item['id']}")
    return 0


def run_update(args: argparse.Namespace) -> int:
    member_id = checked_id(args.member_id)
    changes = parse_assignments(args.assignments)
    target = resolve_target(args.stack)
    with member_errors(target):
        item = target.members().update(member_id, changes)
    print(to_json(item))
    done(f"updated member {member_id}", target)
    return 0


def run_show(args: argparse.Namespace) -> int:
    member_id = checked_id(args.member_id)
    target = resolve_target(args.stack)
    with member_errors(target):
        item = target.members().get(member_id)
    if item is None:
        raise CommandError(f"member {member_id} not found in {target.describe()}")
    print(to_json(item))
    return 0


def run_mute(args: argparse.Namespace) -> int:
    member_id = checked_id(args.member_id)
    target = resolve_target(args.stack)
    if not args.yes:
        confirm(
            f"mute member {member_id} (delete its Customer.io profile) in {target.describe()}?",
            what="mute changes a member",
        )
    with member_errors(target):
        item = target.members().admin_mute(member_id)
    print(to_json(item))
    done(f"muted member {member_id}", target)
    return 0


def run_delete(args: argparse.Namespace) -> int:
    member_id = checked_id(args.member_id)
    target = resolve_target(args.stack)
    if not args.yes:
        change = "remove the item of" if args.purge else "unsubscribe and mute"
        confirm(f"{change} member {member_id} in {target.describe()}?", what="delete changes a member")
    with member_errors(target):
        members = target.members()
        if args.purge:
            purge(members, member_id)
            item: MemberItem | None = None
        else:
            item = members.request_deletion(member_id)
    if item is None:
        done(f"removed member {member_id}", target, "; the stream deletes the Customer.io profile")
        if args.json:
            print(json.dumps({"id": member_id, "removed": True}))
    else:
        print(to_json(item))
        done(f"requested deletion of member {member_id}", target)
    return 0


def done(change: str, target: OpsTarget, after: str = "") -> None:
    """A write names its target on stderr (its data went to stdout), so one to the wrong stack is seen."""
    print(f"{change} in {target.describe()}{after}", file=sys.stderr)


def purge(members: MemberAdmin, member_id: str) -> None:
    """Remove the item; a member that is not there is an error here (the operator expected one)."""
    if members.get(member_id) is None:
        raise MemberNotFound(member_id)
    members.delete(member_id)


@contextmanager
def member_errors(target: OpsTarget) -> Iterator[None]:
    """The member model's expected failures, and AWS's, as one-line CommandErrors (no values in them)."""
    try:
        with aws_errors(target.endpoint_url):
            yield
    except MemberNotFound as error:
        raise CommandError(f"member {error.member_id} not found in {target.describe()}") from None
    except (InvalidMember, MemberExists, ConcurrentWriteError) as error:
        raise CommandError(str(error)) from None
