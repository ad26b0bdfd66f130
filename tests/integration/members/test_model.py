"""MemberAdmin against in-process moto DynamoDB."""

from __future__ import annotations

from decimal import Decimal
from itertools import count
from typing import Any

import boto3
import pytest

from cio_sync.adapters.member_model import MemberModel, bind_member_model
from cio_sync.adapters.member_table import MemberRepository
from cio_sync.failures import TransientFailure
from cio_sync.members.contract import InvalidMember, MemberItem, is_member_id
from cio_sync.members.errors import ConcurrentWriteError, MemberExists, MemberNotFound, UnreadableMembers
from cio_sync.members.raw_writes import MODEL_WRITE, VERSION_FIELDS, rule_state
from cio_sync_cli.member_writes import MemberAdmin

TABLE = "members-test"
MEMBER_ID = "5f0c8e2a9b1d4c3e2f1a0b9c"


class Clock:
    """A strictly increasing contract timestamp per call, so tests can tell writes apart."""

    def __init__(self) -> None:
        self._ticks = count(1)

    def __call__(self) -> str:
        return f"2026-11-26T16:37:{next(self._ticks):02d}.000000Z"


@pytest.fixture
def repo(aws: None) -> MemberAdmin:
    repository = MemberAdmin(TABLE, clock=Clock())
    repository.create_table()
    return repository


def raw_item(member_id: str = MEMBER_ID) -> dict[str, Any]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    return dict(
        client.get_item(TableName=TABLE, Key={"id": {"S": member_id}}, ConsistentRead=True).get("Item", {})
    )


def put_raw(item: dict[str, Any]) -> None:
    boto3.client("dynamodb", region_name="us-east-1").put_item(TableName=TABLE, Item=item)


def web_member(repo: MemberAdmin, **fields: Any) -> MemberItem:
    return repo.create_web_signup({"id": MEMBER_ID, "email": "member@example.org", **fields})


# --- creation and reads --------------------------------------------------------------------------


def test_web_signup_is_stored_subscribed_with_an_explicit_null_mute(repo: MemberAdmin) -> None:
    created = web_member(repo, first_name="Ada")
    assert created["email_subscription_status"] is True
    assert created["email_subscription_topics"] == ["community"]
    assert repo.get(MEMBER_ID) == created
    stored = raw_item()
    assert stored["promotions_muted_at"] == {"NULL": True}
    assert stored["email_subscription_topics"] == {"L": [{"S": "community"}]}
    assert stored["email_subscription_status"] == {"BOOL": True}


def test_sms_signup_generates_an_id_and_default_topics(repo: MemberAdmin) -> None:
    created = repo.create_sms_signup({"mobile": "+15555550123"})
    assert is_member_id(created["id"])
    assert created["sms_status"] == "active"
    assert created["sms_subscription_topics"] == ["general", "voting"]
    assert repo.get(created["id"]) == created


def test_creating_an_existing_id_is_refused(repo: MemberAdmin) -> None:
    web_member(repo)
    with pytest.raises(MemberExists):
        web_member(repo)


def test_signups_that_break_the_contract_are_refused_before_writing(repo: MemberAdmin) -> None:
    with pytest.raises(InvalidMember) as error:
        web_member(repo, birthdate="02/01/1990")
    assert error.value.field == "birthdate"
    assert repo.get(MEMBER_ID) is None


def test_get_of_missing_or_malformed_ids_is_none(repo: MemberAdmin) -> None:
    assert repo.get(MEMBER_ID) is None
    assert repo.get("not-an-id") is None


def test_get_reports_an_absent_mute_as_null(repo: MemberAdmin) -> None:
    put_raw({"id": {"S": MEMBER_ID}, "email": {"S": "raw@example.org"}})
    assert repo.get(MEMBER_ID) == {"id": MEMBER_ID, "email": "raw@example.org", "promotions_muted_at": None}


def test_scan_ids_pages_through_every_member(repo: MemberAdmin) -> None:
    ids = {repo.create_sms_signup({"mobile": f"+1555555{n:04d}"})["id"] for n in range(7)}
    assert set(repo.scan_ids(page_size=2)) == ids


# --- updates through the rules -------------------------------------------------------------------


def test_update_applies_the_rules_and_stamps_updated_at(repo: MemberAdmin) -> None:
    created = web_member(repo)
    muted = repo.update(MEMBER_ID, {"email_subscription_status": False})
    assert muted["email_subscription_topics"] == []
    assert muted["promotions_muted_at"] is not None
    assert muted["updated_at"] > created["updated_at"]
    assert raw_item()["promotions_muted_at"] == {"S": muted["promotions_muted_at"]}

    unmuted = repo.update(MEMBER_ID, {"email_subscription_topics": ["news"]})
    assert unmuted["promotions_muted_at"] is None
    assert unmuted["email_subscription_status"] is True
    assert raw_item()["promotions_muted_at"] == {"NULL": True}
    assert repo.get(MEMBER_ID) == unmuted


def test_updated_at_never_goes_back_past_a_writer_whose_clock_ran_ahead(repo: MemberAdmin) -> None:
    """Another service stamped the item from a clock a year ahead: our writes still move it forward."""
    web_member(repo)
    ahead = "2027-11-26T16:37:00.000000Z"
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName=TABLE,
        Key={"id": {"S": MEMBER_ID}},
        UpdateExpression="SET updated_at = :ahead",
        ExpressionAttributeValues={":ahead": {"S": ahead}},
    )
    updated = repo.update(MEMBER_ID, {"first_name": "Grace"})
    assert updated["updated_at"] == "2027-11-26T16:37:00.000001Z"
    seen = repo.get(MEMBER_ID)
    assert seen is not None
    assert repo.write_rule_decisions(MEMBER_ID, expected_of(seen), {"promotions_muted_at": None}) is True
    assert raw_item()["updated_at"] == {"S": "2027-11-26T16:37:00.000002Z"}


def test_update_with_none_removes_a_field(repo: MemberAdmin) -> None:
    web_member(repo, first_name="Ada", last_name="Lovelace")
    updated = repo.update(MEMBER_ID, {"last_name": None, "first_name": "Grace"})
    assert "last_name" not in updated
    assert "last_name" not in raw_item()
    assert raw_item()["first_name"] == {"S": "Grace"}


def test_update_keeps_attributes_written_by_other_services(repo: MemberAdmin) -> None:
    web_member(repo)
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.update_item(
        TableName=TABLE,
        Key={"id": {"S": MEMBER_ID}},
        UpdateExpression="SET password_hash = :hash",
        ExpressionAttributeValues={":hash": {"S": "argon2-hash"}},
    )
    repo.update(MEMBER_ID, {"first_name": "Grace"})
    assert raw_item()["password_hash"] == {"S": "argon2-hash"}


def test_update_refuses_contract_breaks_and_unknown_fields(repo: MemberAdmin) -> None:
    web_member(repo)
    before = raw_item()
    with pytest.raises(InvalidMember) as error:
        repo.update(MEMBER_ID, {"sms_status": "maybe"})
    assert error.value.field == "sms_status"
    with pytest.raises(InvalidMember) as error:  # the rules would clear the topics; the marker carries them
        repo.update(MEMBER_ID, {"email_subscription_status": False, "email_subscription_topics": ["bogus"]})
    assert error.value.field == "email_subscription_topics"
    with pytest.raises(InvalidMember) as error:
        repo.update(MEMBER_ID, {"nickname": "ada"})
    assert error.value.field == "nickname"
    with pytest.raises(InvalidMember) as error:
        repo.update(MEMBER_ID, {"id": "5f0c8e2a9b1d4c3e2f1a0b9d"})
    assert error.value.field == "id"
    assert raw_item() == before


def test_update_of_a_missing_member_raises(repo: MemberAdmin) -> None:
    with pytest.raises(MemberNotFound):
        repo.update(MEMBER_ID, {"first_name": "Grace"})


class InterferingRepository(MemberAdmin):
    """Another writer changes the member right after each of our reads, `interferences` times."""

    def __init__(self, interferences: int) -> None:
        super().__init__(TABLE, clock=Clock(), max_attempts=3)
        self.interferences = interferences
        self.reads = 0

    def get(self, member_id: str, consistent: bool = True) -> MemberItem | None:
        item = super().get(member_id, consistent)
        self.reads += 1
        if self.interferences:
            self.interferences -= 1
            boto3.client("dynamodb", region_name="us-east-1").update_item(
                TableName=TABLE,
                Key={"id": {"S": member_id}},
                UpdateExpression="SET updated_at = :other, sms_status = :stop",
                ExpressionAttributeValues={
                    ":other": {"S": f"2030-01-01T00:00:0{self.reads}.000000Z"},
                    ":stop": {"S": "stop"},
                },
            )
        return item


def test_a_concurrent_write_is_not_lost_the_rules_rerun_on_a_fresh_read(repo: MemberAdmin) -> None:
    repo.create_web_signup({"id": MEMBER_ID, "email": "a@example.org", "mobile": "+15555550123"})
    interfering = InterferingRepository(interferences=1)
    result = interfering.update(MEMBER_ID, {"email_subscription_status": False})
    assert interfering.reads == 2
    # The other writer's sms_status survived, and with it the member is now unsubscribed from both.
    assert result["sms_status"] == "stop"
    assert result["email_subscription_status"] is False
    assert result["promotions_muted_at"] is not None


def test_endless_interference_gives_up_with_concurrent_write_error(repo: MemberAdmin) -> None:
    web_member(repo)
    with pytest.raises(ConcurrentWriteError):
        InterferingRepository(interferences=10).update(MEMBER_ID, {"first_name": "Grace"})


def test_admin_mute_and_deletion_request(repo: MemberAdmin) -> None:
    web_member(repo, mobile="+15555550123", sms_status="active")
    muted = repo.admin_mute(MEMBER_ID)
    assert muted["promotions_muted_at"] is not None
    assert muted["email_subscription_status"] is True

    requested = repo.request_deletion(MEMBER_ID)
    assert requested["email_subscription_status"] is False
    assert requested["email_subscription_topics"] == []
    assert requested["sms_status"] == "stop"
    assert requested["sms_subscription_topics"] == []
    assert requested["deletion_requested_at"] == requested["promotions_muted_at"]
    with pytest.raises(MemberNotFound):
        repo.admin_mute("5f0c8e2a9b1d4c3e2f1a0b9d")


def test_delete_removes_the_item_and_tolerates_missing_ones(repo: MemberAdmin) -> None:
    web_member(repo)
    repo.delete(MEMBER_ID)
    assert repo.get(MEMBER_ID) is None
    repo.delete(MEMBER_ID)
    with pytest.raises(InvalidMember):
        repo.delete("nope")


# --- raw mute writes -----------------------------------------------------------------------------


def expected_of(item: dict[str, Any]) -> dict[str, Any]:
    """What the stream function conditions a write-back on: the rule inputs and the version it saw (the
    stream's image holds the stored model write marker, which the repository's reads leave out)."""
    marker = raw_item(item.get("id", MEMBER_ID)).get(MODEL_WRITE, {}).get("S")
    return {**rule_state(item), **{name: item.get(name) for name in VERSION_FIELDS}, MODEL_WRITE: marker}


def test_rule_decisions_are_written_only_while_the_seen_item_holds(repo: MemberAdmin) -> None:
    seen = web_member(repo)
    decided = {"email_subscription_topics": [], "promotions_muted_at": "2026-11-26T17:00:00.000000Z"}
    assert repo.write_rule_decisions(MEMBER_ID, expected_of(seen), decided) is True
    stored = raw_item()
    assert stored["promotions_muted_at"] == {"S": "2026-11-26T17:00:00.000000Z"}
    assert stored["email_subscription_topics"] == {"L": []}
    # The same decision again: the item moved (our own write), nothing is overwritten.
    again = {"promotions_muted_at": "2026-11-27T00:00:00.000000Z"}
    assert repo.write_rule_decisions(MEMBER_ID, expected_of(seen), again) is False
    assert raw_item()["promotions_muted_at"] == {"S": "2026-11-26T17:00:00.000000Z"}
    # Unmuting stores an explicit NULL.
    now_seen = repo.get(MEMBER_ID)
    assert now_seen is not None
    assert repo.write_rule_decisions(MEMBER_ID, expected_of(now_seen), {"promotions_muted_at": None}) is True
    assert raw_item()["promotions_muted_at"] == {"NULL": True}


def test_a_later_write_that_restores_the_same_subscriptions_still_counts_as_moved(
    repo: MemberAdmin,
) -> None:
    """A -> B -> A on the rule inputs: only `updated_at` tells the later writes happened."""
    seen = web_member(repo)
    repo.update(MEMBER_ID, {"first_name": "Grace"})
    decided = {"promotions_muted_at": "2026-11-26T17:00:00.000000Z"}
    assert repo.write_rule_decisions(MEMBER_ID, expected_of(seen), decided) is False
    assert raw_item()["promotions_muted_at"] == {"NULL": True}


def test_a_decision_for_a_previous_life_of_the_id_is_not_written_on_the_next(repo: MemberAdmin) -> None:
    """Deleted and signed up again with the same rule inputs and `updated_at` (review 21): only
    `created_at` or the old item's model write marker tells the two lives apart."""
    seen = web_member(repo)
    decided = {"promotions_muted_at": "2026-11-26T17:00:00.000000Z"}
    for previous in ({"created_at": "2020-01-01T00:00:00.000000Z"}, {MODEL_WRITE: "m"}):
        assert repo.write_rule_decisions(MEMBER_ID, {**expected_of(seen), **previous}, decided) is False
    assert raw_item()["promotions_muted_at"] == {"NULL": True}


def test_a_created_at_of_another_type_does_not_stop_a_mute(repo: MemberAdmin) -> None:
    seen = web_member(repo)
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName=TABLE,
        Key={"id": {"S": MEMBER_ID}},
        UpdateExpression="SET created_at = :legacy",
        ExpressionAttributeValues={":legacy": {"N": "1764000000"}},
    )
    legacy = {**expected_of(seen), "created_at": Decimal(1764000000)}  # as the stream's image gives it
    decided = {"promotions_muted_at": "2026-11-26T17:00:00.000000Z"}
    assert repo.write_rule_decisions(MEMBER_ID, legacy, decided) is True
    assert raw_item()["promotions_muted_at"] == {"S": "2026-11-26T17:00:00.000000Z"}


def test_an_unrelated_invalid_attribute_does_not_stop_a_mute(repo: MemberAdmin) -> None:
    seen = web_member(repo)
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName=TABLE,
        Key={"id": {"S": MEMBER_ID}},
        UpdateExpression="SET mobile = :legacy",
        ExpressionAttributeValues={":legacy": {"S": "5555550123"}},
    )
    seen = {**seen, "mobile": "5555550123"}
    decided = {"promotions_muted_at": "2026-11-26T17:00:00.000000Z"}
    assert repo.write_rule_decisions(MEMBER_ID, expected_of(seen), decided) is True
    assert raw_item()["promotions_muted_at"] == {"S": "2026-11-26T17:00:00.000000Z"}


def test_rule_decisions_treat_an_absent_mute_as_null_and_never_create(repo: MemberAdmin) -> None:
    put_raw({"id": {"S": MEMBER_ID}, "updated_at": {"S": "2026-01-01T00:00:00.000000Z"}})
    decided = {"promotions_muted_at": "2026-11-26T17:00:00.000000Z"}
    seen = {"id": MEMBER_ID, "updated_at": "2026-01-01T00:00:00.000000Z"}
    assert repo.write_rule_decisions(MEMBER_ID, expected_of(seen), decided) is True
    assert raw_item()["updated_at"] != {"S": "2026-01-01T00:00:00.000000Z"}
    other = "5f0c8e2a9b1d4c3e2f1a0b9d"
    assert repo.write_rule_decisions(other, expected_of({"id": other}), decided) is False
    assert raw_item(other) == {}
    with pytest.raises(InvalidMember):
        repo.write_rule_decisions(MEMBER_ID, expected_of(seen), {"promotions_muted_at": "tomorrow"})


def test_a_table_that_cannot_be_reached_is_a_transient_failure(aws: None) -> None:
    missing = MemberRepository("no-such-table")
    with pytest.raises(TransientFailure, match="ResourceNotFoundException"):
        missing.write_rule_decisions(MEMBER_ID, rule_state({"id": MEMBER_ID}), {"promotions_muted_at": None})


def test_mute_if_not_muted_outcomes(repo: MemberAdmin) -> None:
    first, second = "2026-11-26T17:00:00.000000Z", "2026-11-26T18:00:00.000000Z"
    web_member(repo)
    assert repo.mute_if_not_muted(MEMBER_ID, first) == "muted"
    assert repo.mute_if_not_muted(MEMBER_ID, second) == "already_muted"
    assert raw_item()["promotions_muted_at"] == {"S": first}
    # The same mute time again is the same import redelivered: its outcome stays "muted".
    assert repo.mute_if_not_muted(MEMBER_ID, first) == "muted"

    other = "5f0c8e2a9b1d4c3e2f1a0b9d"
    assert repo.mute_if_not_muted(other, first) == "not_found"
    assert raw_item(other) == {}
    assert repo.mute_if_not_muted("not-an-id", first) == "not_found"


def test_get_many_reads_consistently_and_leaves_out_missing_ids(repo: MemberAdmin) -> None:
    web_member(repo)
    missing = "5f0c8e2a9b1d4c3e2f1a0b9d"
    found = repo.get_many([MEMBER_ID, missing, "not-an-id", MEMBER_ID])
    assert list(found) == [MEMBER_ID]
    assert found[MEMBER_ID] == repo.get(MEMBER_ID)


def test_get_many_names_items_of_the_wrong_type_and_still_reads_the_rest(repo: MemberAdmin) -> None:
    web_member(repo)
    corrupt = "5f0c8e2a9b1d4c3e2f1a0b9d"
    put_raw({"id": {"S": corrupt}, "email_subscription_status": {"S": "yes"}})  # a raw writer's mistake
    with pytest.raises(UnreadableMembers) as raised:
        repo.get_many([MEMBER_ID, corrupt])
    assert raised.value.unreadable == [corrupt]
    assert list(raised.value.readable) == [MEMBER_ID]


def test_mute_if_not_muted_mutes_an_item_without_the_attribute(repo: MemberAdmin) -> None:
    put_raw({"id": {"S": MEMBER_ID}})
    assert repo.mute_if_not_muted(MEMBER_ID, "2026-11-26T17:00:00.000000Z") == "muted"


# --- the model itself ----------------------------------------------------------------------------


def test_the_model_reads_no_settings_a_repository_names_its_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMBER_TABLE_NAME", "from-the-environment")
    assert MemberModel.Meta.table_name == ""
    repository = MemberAdmin("named", region="eu-west-1")
    assert (repository.model.Meta.table_name, repository.model.Meta.region) == ("named", "eu-west-1")


def test_bound_models_are_independent() -> None:
    first = bind_member_model("one", "http://127.0.0.1:5000", "us-east-1")
    second = bind_member_model("two")
    assert (first.Meta.table_name, first.Meta.host) == ("one", "http://127.0.0.1:5000")
    assert (second.Meta.table_name, second.Meta.host) == ("two", None)


def test_keys_left_unprocessed_are_asked_again_briefly_then_are_a_transient_failure(aws: None) -> None:
    """Throttling that outlasts a few short pauses fails fast: the sweep keeps 30 s before its deadline
    for up to 10 such calls a page (a Lambda timeout would lose the syncs it decided)."""
    pauses: list[float] = []
    repository = MemberRepository(TABLE, clock=Clock(), sleep=pauses.append)
    calls: list[list[dict[str, Any]]] = []

    class Throttled:
        """pynamodb's table connection, throttled: every key comes back unprocessed."""

        def batch_get_item(self, keys: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
            calls.append(keys)
            unprocessed = {"Keys": [{"id": {"S": MEMBER_ID}}], "ConsistentRead": True}
            return {"Responses": {TABLE: []}, "UnprocessedKeys": {TABLE: unprocessed}}

    repository._table = Throttled()  # type: ignore[assignment]
    with pytest.raises(TransientFailure, match="unprocessed"):
        repository.batch_read([MEMBER_ID])
    assert len(calls) == 5
    assert sum(pauses) <= 0.75


def test_batch_read_reads_whole_items_or_a_projection_and_names_unreadable_ones(repo: MemberAdmin) -> None:
    """BatchGetItem alone (the profile sweep's role allows nothing else), through pynamodb's connection."""
    web_member(repo)
    other = "0123456789abcdef01234567"
    put_raw({"id": {"S": other}, "email_subscription_status": {"S": "yes"}})
    reader = MemberRepository(TABLE)
    with pytest.raises(UnreadableMembers) as raised:
        reader.batch_read([MEMBER_ID, other, "ffffffffffffffffffffffff", "not-an-id"])
    assert raised.value.unreadable == [other]
    assert raised.value.readable[MEMBER_ID]["email"] == "member@example.org"
    projected = reader.batch_read([MEMBER_ID], ["id", "email_subscription_status"])
    assert projected == {
        MEMBER_ID: {"id": MEMBER_ID, "email_subscription_status": True, "promotions_muted_at": None}
    }


LEGACY_VALUES = [
    ("mobile", {"S": "5555550123"}),
    ("created_at", {"S": "2020-01-01"}),
]


def set_raw(name: str, value: dict[str, Any]) -> None:
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName=TABLE,
        Key={"id": {"S": MEMBER_ID}},
        UpdateExpression="SET #name = :legacy",
        ExpressionAttributeNames={"#name": name},
        ExpressionAttributeValues={":legacy": value},
    )


@pytest.mark.parametrize(("name", "legacy"), LEGACY_VALUES)
def test_a_legacy_unrelated_attribute_does_not_hold_back_a_mute_or_a_deletion_request(
    repo: MemberAdmin, name: str, legacy: dict[str, Any]
) -> None:
    """Review 21: consent writes validate what they set and the rules' inputs, not the whole item."""
    web_member(repo)
    set_raw(name, legacy)
    assert repo.admin_mute(MEMBER_ID)["promotions_muted_at"] is not None
    requested = repo.request_deletion(MEMBER_ID)
    assert requested["email_subscription_status"] is False
    assert requested["sms_status"] == "stop"
    assert raw_item()[name] == legacy  # left as another writer stored it
    changed = repo.update(MEMBER_ID, {"first_name": "Grace"})
    assert changed["first_name"] == "Grace"


def test_a_legacy_rule_input_the_write_keeps_is_refused_naming_the_field_not_the_value(
    repo: MemberAdmin,
) -> None:
    """A mute keeps the legacy sms_status the stream would decide from: refused, nothing written. A deletion
    request replaces it, so it goes through and repairs the item."""
    web_member(repo)
    set_raw("sms_status", {"S": "paused-legacy"})
    before = raw_item()
    with pytest.raises(InvalidMember) as error:
        repo.admin_mute(MEMBER_ID)
    assert error.value.field == "sms_status"
    assert "paused-legacy" not in str(error.value)
    assert raw_item() == before
    assert repo.request_deletion(MEMBER_ID)["sms_status"] == "stop"
