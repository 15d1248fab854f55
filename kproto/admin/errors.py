"""The admin's own error: input refused before anything is sent."""

from __future__ import annotations

from kproto.errors import UsageError

__all__ = ["InvalidArgumentError"]


class InvalidArgumentError(UsageError, ValueError):
    """An admin call's argument breaks Kafka's rules (an illegal topic name, a partition count
    below 1, a replica assignment of the wrong shape); ``field`` names the argument. Nothing
    was sent. Also a ``ValueError``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
