"""`cio-sync reconcile --consent`: the sweep's consent read-back on demand (docs/sweep.md); the writer also
serves the opt-out walk every profiles side runs first.

It walks every profile as the profile-sweep function does and writes to the member table the unsubscribes
and subscription-centre topics Customer.io holds when its change is newer than the table's (the consent
function's rule); alone it queues nothing, with --profiles-only the whole sweep runs beside it. A dry run
writes nothing and says, member by member, what it would write. The operator needs, besides the sweep's
permissions, `dynamodb:GetItem` and `UpdateItem` on the table.
"""

from __future__ import annotations

import sys

from cio_sync.adapters.consent_writes import ConsentWrites
from cio_sync.customerio.reporting import centre_topic_names, parse_topic_map
from cio_sync.pipeline.consent import ConsentPolicy
from cio_sync.pipeline.consent_readback import APPLIED, WOULD_APPLY
from cio_sync.pipeline.profile_sweep import SweepOutcome
from cio_sync_cli.errors import CommandError
from cio_sync_cli.sweep_target import SweepTarget
from cio_sync_cli.target import OpsTarget


def consent_policy(where: SweepTarget) -> ConsentPolicy:
    """The consent function's rules, with the target's topic map (bounces never arise in a read-back)."""
    try:
        topic_map = centre_topic_names(parse_topic_map(where.topic_map))
    except ValueError as error:
        raise CommandError(f"EmailTopicMap: {error}") from None
    return ConsentPolicy(
        topic_map, bounce_unsubscribes=False, quarantine=None, placeholder_id=where.placeholder_id
    )


def consent_writer(target: OpsTarget) -> ConsentWrites:
    """Writes to the target's table as the consent function does (conditional on `updated_at`)."""
    meta = target.members().model.Meta
    return ConsentWrites(meta.table_name, str(meta.region), endpoint_url=target.endpoint_url)


def print_consent(outcome: SweepOutcome) -> None:
    """What the read-back wrote (or would write), by result (the members are among the examples)."""
    results = ", ".join(f"{result} {count}" for result, count in sorted(outcome.consent.items())) or "nothing"
    written = outcome.consent[WOULD_APPLY if outcome.dry_run else APPLIED]
    changes = ", ".join(f"{name} {count}" for name, count in sorted(outcome.consent_changes.items()))
    verb = "would write" if outcome.dry_run else "wrote"
    print(f"consent read back: {results}", file=sys.stderr)
    if written:
        print(f"  {verb} {changes} for {written} member(s)", file=sys.stderr)
