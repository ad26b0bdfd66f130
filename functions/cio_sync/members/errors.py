"""What can go wrong with a member, in the domain's words: the pipeline and the CLI catch these, never the
storage library's exceptions (the member table adapter maps those onto these).
"""

from __future__ import annotations

from cio_sync.members.contract import MemberItem


class MemberNotFound(LookupError):
    """No member with this id (the id is not personal data, so the message carries it)."""

    def __init__(self, member_id: str) -> None:
        super().__init__(f"member {member_id} not found")
        self.member_id = member_id


class MemberExists(ValueError):
    def __init__(self, member_id: str) -> None:
        super().__init__(f"member {member_id} already exists")
        self.member_id = member_id


class UnreadableMembers(Exception):
    """Some stored items do not match the model (a raw writer stored a wrong type); the rest were read."""

    def __init__(self, readable: dict[str, MemberItem], unreadable: list[str]) -> None:
        super().__init__(f"{len(unreadable)} member item(s) cannot be read as the contract says")
        self.readable = readable
        self.unreadable = unreadable


class ConcurrentWriteError(RuntimeError):
    """Other writers kept changing the member between our read and our conditional write."""

    def __init__(self, member_id: str, attempts: int) -> None:
        super().__init__(f"member {member_id} changed concurrently on each of {attempts} attempts")
        self.member_id = member_id
