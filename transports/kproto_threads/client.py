"""The blocking Client: version and metadata queries over the engine's IO thread."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kproto.config import Config, from_options
from kproto.engine.client import BrokerApiVersions
from kproto.engine.cluster import BrokerInfo, Metadata
from kproto.engine.queries import GROUP_KEY, TXN_KEY
from kproto.facade.client import ClientBase
from kproto_threads._loop import Loop

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from kproto.options import Options


__all__ = ["Client"]


class Client(ClientBase):
    """A connection pool to one cluster, driven by a background IO thread.

    ``Client("host:9092", config=Config(...))`` or ``Client("host:9092", client_id="x")``.
    """

    def __init__(self, bootstrap: str | list[str], config: Config | None = None, *,
                 rng: random.Random | None = None, **options: Unpack[Options]) -> None:
        self.config = from_options(config, options) if options or config is None else config
        self._loop_obj: Loop = Loop(bootstrap, self.config, rng)

    @property
    def _loop(self) -> Loop:
        return self._loop_obj

    def api_versions(self, node_id: int | None = None,
                     timeout: float | None = None) -> BrokerApiVersions:
        return self._loop.drive(self._api_versions(node_id, self._wait(timeout)))

    def metadata(self, topics: list[str] | None = None, timeout: float | None = None) -> Metadata:
        return self._loop.drive(self._metadata(topics, self._wait(timeout)))

    def request(self, api_key: int, build: Callable[[int], Any], node_id: int | None = None,
                timeout: float | None = None) -> tuple[int, Any]:
        """A raw request: ``build(version)`` returns the message; gives (version, response)."""
        return self._loop.drive(self._request(api_key, build, node_id, self._wait(timeout)))

    def topics(self, timeout: float | None = None) -> list[str]:
        """Every topic in the cluster, sorted (from the cache while it is fresh)."""
        return self._loop.drive(self._topics(self._wait(timeout)))

    def partitions(self, topic: str, timeout: float | None = None) -> list[int]:
        """The partition ids of ``topic``, sorted."""
        return self._loop.drive(self._partitions(topic, self._wait(timeout)))

    def writable_partitions(self, topic: str, timeout: float | None = None) -> list[int]:
        """The partitions of ``topic`` that have a leader now."""
        return self._loop.drive(self._writable_partitions(topic, self._wait(timeout)))

    def leader(self, topic: str, partition: int, timeout: float | None = None) -> BrokerInfo:
        """The broker leading ``topic[partition]``."""
        return self._loop.drive(self._leader(topic, partition, self._wait(timeout)))

    def replicas(self, topic: str, partition: int, timeout: float | None = None) -> list[int]:
        """The broker ids holding a replica of ``topic[partition]``."""
        return self._loop.drive(self._replicas(topic, partition, self._wait(timeout)))

    def in_sync_replicas(self, topic: str, partition: int,
                         timeout: float | None = None) -> list[int]:
        """The broker ids of ``topic[partition]``'s in-sync replicas."""
        return self._loop.drive(self._in_sync_replicas(topic, partition, self._wait(timeout)))

    def offline_replicas(self, topic: str, partition: int,
                         timeout: float | None = None) -> list[int]:
        """The broker ids of ``topic[partition]``'s offline replicas."""
        return self._loop.drive(self._offline_replicas(topic, partition, self._wait(timeout)))

    def get_offset(self, topic: str, partition: int, time: int,
                   timeout: float | None = None) -> int:
        """The offset of the first record at or after ``time`` (ms), or OFFSET_NEWEST /
        OFFSET_OLDEST's offset; -1 when there is none."""
        return self._loop.drive(self._get_offset(topic, partition, time, self._wait(timeout)))

    def coordinator(self, group: str, timeout: float | None = None) -> BrokerInfo:
        """The broker coordinating consumer group ``group``."""
        return self._loop.drive(self._coordinator(GROUP_KEY, group, "group",
                                                  self._wait(timeout)))

    def transaction_coordinator(self, transactional_id: str,
                                timeout: float | None = None) -> BrokerInfo:
        """The broker coordinating the transactions of ``transactional_id``."""
        return self._loop.drive(self._coordinator(TXN_KEY, transactional_id, "transactional_id",
                                                  self._wait(timeout)))

    def controller(self, timeout: float | None = None) -> BrokerInfo:
        """The cluster's active controller, as Metadata names it."""
        return self._loop.drive(self._controller(self._wait(timeout)))

    def brokers(self, timeout: float | None = None) -> list[BrokerInfo]:
        """Every broker in the cluster, by node id."""
        return self._loop.drive(self._brokers(self._wait(timeout)))

    def refresh_metadata(self, *topics: str, timeout: float | None = None) -> None:
        """Fetch metadata now, for ``topics`` or (none given) every topic."""
        self._loop.drive(self._refresh_metadata(topics, self._wait(timeout)))

    def refresh_coordinator(self, group: str, timeout: float | None = None) -> None:
        """Look up ``group``'s coordinator again (FindCoordinator)."""
        self._loop.drive(self._refresh_coordinator(group, self._wait(timeout)))

    def close(self) -> None:
        self._close_called = True
        self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait(self, timeout: float | None) -> float:
        # The engine bounds every request; this outer bound only guards against a stuck thread.
        if timeout is not None:
            return timeout
        return self.config.request_timeout + self.config.connect_timeout + 5.0
