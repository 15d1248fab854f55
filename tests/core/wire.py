"""A scripted broker for pure engine tests: parse the client's frames, build replies.

Kept beside the fake cluster: engine tests need frames cut by hand (partial writes,
correlation ids), ApiVersions with any advertised range (``all_api_versions(overrides)``
for version negotiation and fallback) and replies the cluster would never send; the fake
cluster advertises its own fixed versions.
"""

from __future__ import annotations

import struct
from typing import Any

from kproto import protocol
from kproto.engine.client import ClientCore
from kproto.events import OpenConnection


def frames(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        (size,) = struct.unpack_from(">i", data, pos)
        out.append(data[pos + 4:pos + 4 + size])
        pos += 4 + size
    assert pos == len(data), "the client wrote a partial frame"
    return out


def all_api_versions(overrides: dict[int, tuple[int, int]] | None = None) -> Any:
    keys = []
    for key, spec in sorted(protocol.API_SPECS.items()):
        lo, hi = (overrides or {}).get(key, (spec.min_version, spec.max_version))
        keys.append(_api_version(key, lo, hi))
    return protocol.ApiVersionsResponse(error_code=0, api_keys=keys)


def _api_version(key: int, lo: int, hi: int) -> Any:
    from kproto.protocol.messages.api_versions_response import ApiVersion
    return ApiVersion(api_key=key, min_version=lo, max_version=hi)


class Wire:
    """One scripted connection: read the client's requests, answer them."""

    def __init__(self, core: ClientCore, conn_id: int) -> None:
        self.core = core
        self.conn_id = conn_id

    def requests(self) -> list[tuple[Any, Any, int]]:
        return [protocol.decode_request(f) for f in frames(self.core.data_to_send(self.conn_id))]

    def reply(self, header: Any, version: int, response: Any, now: float) -> bytes:
        data = protocol.encode_response(response, version, header.correlation_id,
                                        header.request_api_key)
        self.core.receive_data(self.conn_id, data, now)
        return data

    def handshake(self, now: float, versions: Any = None) -> None:
        """Answer the ApiVersions that opens every connection."""
        [(header, _req, version)] = self.requests()
        assert header.request_api_key == 18
        self.reply(header, version, versions or all_api_versions(), now)


def open_action(core: ClientCore) -> OpenConnection:
    action = core.next_action()
    assert isinstance(action, OpenConnection), action
    return action


def metadata_response(brokers: list[tuple[int, str, int]],
                      topics: dict[str, list[int]]) -> Any:
    from kproto.protocol.messages import metadata_response as m
    return protocol.MetadataResponse(
        brokers=[m.MetadataResponseBroker(node_id=n, host=h, port=p) for n, h, p in brokers],
        cluster_id="test-cluster",
        controller_id=brokers[0][0] if brokers else -1,
        topics=[m.MetadataResponseTopic(
            error_code=0, name=name,
            partitions=[m.MetadataResponsePartition(
                error_code=0, partition_index=i, leader_id=leader, leader_epoch=0,
                replica_nodes=[leader], isr_nodes=[leader]) for i, leader in enumerate(leaders)])
            for name, leaders in topics.items()],
    )
