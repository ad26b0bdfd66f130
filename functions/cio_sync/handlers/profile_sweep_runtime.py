"""profile-sweep's composition root: its settings, read once, and the adapters built from them."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple

from cio_sync.adapters.aws import aws_client
from cio_sync.adapters.consent_writes import ConsentWrites
from cio_sync.adapters.customerio.credentials import APP_FIELDS
from cio_sync.adapters.customerio.people_client import PeopleClient
from cio_sync.adapters.member_scan import ScanMembers
from cio_sync.adapters.member_table import BatchReadMembers, MemberRepository
from cio_sync.adapters.sqs import SqsQueues
from cio_sync.customerio.reporting import centre_topic_names, parse_topic_map
from cio_sync.environment import Environment, SettingsError
from cio_sync.handlers.customerio_settings import ApiSettings, app_region_url, secret_credentials
from cio_sync.members.subscriptions import ELIGIBILITY_FIELDS
from cio_sync.pipeline.consent import ConsentPolicy, MemberConsent
from cio_sync.pipeline.consent_readback import member_fields
from cio_sync.pipeline.profile_sweep import MemberScanner, PeopleDirectory, TrackPublisher
from cio_sync.pipeline.track_consumer import MemberReader


class ProfileSweepSettings(NamedTuple):
    region: str
    member_table: str  # read with BatchGetItem only
    track_queue_url: str  # every fix is a sync queued here, in its member's lane
    app_api: ApiSettings  # search and attributes: the sweep's own request budget, one process
    placeholder_id: str  # the transactional placeholder profile: never touched
    check_attributes: bool  # also read attributes and re-identify drifted profiles
    max_deletes: int  # a brake: past this many deletes in one run, the rest are only counted
    volatile_window_s: int  # a volatile timestamp may lag within this window (the stream's own rule)
    find_missing: bool  # after a whole walk, scan the table for eligible members with no profile
    read_consent: bool  # read each eligible profile's consent back into the table (consent_readback)
    read_opt_outs: bool  # first read back the people Customer.io holds as unsubscribed (opt_out_walk)
    topic_map: Mapping[str, str]  # topic_<n> -> our email topic (EmailTopicMap), the consent function's

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ProfileSweepSettings:
        env = Environment(environ)
        return cls(
            region=env.text("AWS_REGION"),
            member_table=env.text("MEMBER_TABLE_NAME"),
            track_queue_url=env.text("TRACK_QUEUE_URL"),
            app_api=ApiSettings(
                secret_name=env.text("CUSTOMER_IO_APP_SECRET_NAME"),
                secret_fields=APP_FIELDS,
                base_url=app_region_url(env),
                rate_per_s=env.number("PROFILE_SWEEP_APP_RATE_PER_S"),
                concurrency=1,  # ReservedConcurrentExecutions: 1 in template.yaml
                enabled=env.flag("CUSTOMER_IO_ENABLED"),
            ),
            placeholder_id=env.text("CUSTOMER_IO_APP_IDENTIFIER_ID"),
            check_attributes=env.flag("PROFILE_SWEEP_CHECK_ATTRIBUTES"),
            max_deletes=env.count("PROFILE_SWEEP_MAX_DELETES"),
            volatile_window_s=env.whole_seconds("VOLATILE_SYNC_WINDOW_S"),
            find_missing=env.flag("PROFILE_SWEEP_FIND_MISSING"),
            read_consent=env.flag("PROFILE_SWEEP_READ_CONSENT"),
            read_opt_outs=env.flag("PROFILE_SWEEP_READ_OPT_OUTS"),
            topic_map=topic_map(env),
        )

    def consent_policy(self) -> ConsentPolicy | None:
        """The consent function's rules for the read-back (bounces and quarantine never arise in it)."""
        if not self.read_consent:
            return None
        return ConsentPolicy(
            self.topic_map, bounce_unsubscribes=False, quarantine=None, placeholder_id=self.placeholder_id
        )


def topic_map(env: Environment) -> dict[str, str]:
    try:
        return centre_topic_names(parse_topic_map(env.text_or("EMAIL_TOPIC_MAP", "")))
    except ValueError as error:
        raise SettingsError(f"environment variable EMAIL_TOPIC_MAP: {error}") from None


class ProfileSweepRuntime(NamedTuple):
    directory: PeopleDirectory
    members: MemberReader
    publisher: TrackPublisher
    placeholder_id: str
    check_attributes: bool
    max_deletes: int
    volatile_window_s: int
    scanner: MemberScanner | None = None  # None: the table side is not run
    find_missing: bool = False
    consent: ConsentPolicy | None = None  # None: no consent read-back
    read_opt_outs: bool = True  # the opt-out walk (its writer: consent_writer; None: only counted)
    consent_writer: MemberConsent | None = None
    clock: Callable[[], float] = time.time  # names the run


def finds_missing(settings: ProfileSweepSettings) -> bool:
    """A dry run (CUSTOMER_IO_ENABLED=false) lists no profile: every eligible member would look missing."""
    return settings.find_missing and settings.app_api.enabled


def build(settings: ProfileSweepSettings) -> ProfileSweepRuntime:
    repository = MemberRepository(settings.member_table, region=settings.region)
    find_missing = finds_missing(settings)
    reads_consent = settings.read_consent or settings.read_opt_outs
    return ProfileSweepRuntime(
        directory=PeopleClient(
            secret_credentials(settings.app_api),
            base_url=settings.app_api.base_url,
            rate_per_s=settings.app_api.rate_per_process,
            enabled=settings.app_api.enabled,
        ),
        # Eligibility needs five attributes, the read-backs the consent ones; the attribute check needs
        # whole items (the payload).
        members=BatchReadMembers(repository, member_fields(settings.check_attributes, reads_consent)),
        publisher=SqsQueues(aws_client("sqs"), settings.track_queue_url, None),
        placeholder_id=settings.placeholder_id,
        check_attributes=settings.check_attributes,
        max_deletes=settings.max_deletes,
        volatile_window_s=settings.volatile_window_s,
        scanner=ScanMembers(repository, ELIGIBILITY_FIELDS) if find_missing else None,
        find_missing=find_missing,
        consent=settings.consent_policy(),
        read_opt_outs=settings.read_opt_outs,
        consent_writer=ConsentWrites(settings.member_table, settings.region) if reads_consent else None,
    )
