"""What a transactional producer needs to know about a consumer group member (KIP-447).

A consume-transform-produce loop commits its input offsets inside the producer's
transaction (TxnOffsetCommit). Carrying the member's generation, member id and group instance
id lets the group coordinator reject the commit of a member that a rebalance has fenced (a
zombie): ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID. A bare group id
(generation -1, no member id) is not checked by the coordinator, so it cannot fence anybody.
"""

from __future__ import annotations

from dataclasses import dataclass

from kproto.errors import ConfigurationError

__all__ = ["UNKNOWN_GENERATION", "ConsumerGroupMetadata", "group_metadata_of"]

UNKNOWN_GENERATION = -1


@dataclass(frozen=True, slots=True)
class ConsumerGroupMetadata:
    """A group member as the group coordinator knows it (Java's ConsumerGroupMetadata).

    Get it from a running session (``session.group_metadata()``) and pass it to
    ``add_offsets_to_txn`` / ``add_message_to_txn``; a plain group id means
    ``ConsumerGroupMetadata(group_id)``: generation -1, empty member id, no fencing.
    """

    group_id: str
    generation_id: int = UNKNOWN_GENERATION
    member_id: str = ""
    group_instance_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.group_id, str) or not self.group_id:
            raise ConfigurationError(
                f"ConsumerGroupMetadata: group_id must be a non-empty str, got {self.group_id!r}")
        if (not isinstance(self.generation_id, int) or isinstance(self.generation_id, bool)
                or self.generation_id < UNKNOWN_GENERATION):
            raise ConfigurationError(
                f"ConsumerGroupMetadata: generation_id must be an int >= -1, "
                f"got {self.generation_id!r}")
        if not isinstance(self.member_id, str):
            raise ConfigurationError(
                f"ConsumerGroupMetadata: member_id must be a str, got {self.member_id!r}")
        if self.group_instance_id is not None and (
                not isinstance(self.group_instance_id, str) or not self.group_instance_id):
            raise ConfigurationError(
                f"ConsumerGroupMetadata: group_instance_id must be None or a non-empty str, "
                f"got {self.group_instance_id!r}")

    @property
    def identifies_member(self) -> bool:
        """Whether the coordinator checks the member (anything beyond the group id is set)."""
        return (self.generation_id != UNKNOWN_GENERATION or self.member_id != ""
                or self.group_instance_id is not None)

    def describe(self) -> str:
        """For error messages: the group and, when set, the member fields."""
        if not self.identifies_member:
            return f"group {self.group_id!r}"
        instance = ("" if self.group_instance_id is None
                    else f", group instance id {self.group_instance_id!r}")
        return (f"group {self.group_id!r} (generation {self.generation_id}, "
                f"member id {self.member_id!r}{instance})")


def group_metadata_of(group: str | ConsumerGroupMetadata) -> ConsumerGroupMetadata:
    """Accept a group id or a :class:`ConsumerGroupMetadata`; anything else is an error."""
    if isinstance(group, ConsumerGroupMetadata):
        return group
    if isinstance(group, str):
        return ConsumerGroupMetadata(group)
    raise ConfigurationError(
        f"expected a group id (str) or a ConsumerGroupMetadata, got {type(group).__name__} "
        f"{group!r}")
