"""The member model reads every attribute of the contract: an attribute the model lacks is dropped from
every read (pynamodb keeps only what the model declares), so a consent record would vanish from reads."""

from __future__ import annotations

from cio_sync.adapters.member_model import MemberModel
from cio_sync.members.contract import CONTRACT_FIELDS


def test_the_model_declares_every_contract_attribute() -> None:
    declared = set(MemberModel.get_attributes())
    assert set(CONTRACT_FIELDS) - declared == set()
