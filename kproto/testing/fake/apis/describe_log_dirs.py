"""DescribeLogDirs (key 35): the one log directory of the broker asked and its replicas.

Theory of operation: every fake broker has one log directory, ``/kproto-fake/<node id>``;
it holds a replica of each partition whose replicas name the broker, sized as its log
(followers catch up at once, so the lag is 0). Topics null asks for every replica; named
partitions the broker does not hold are left out, as Kafka leaves them out.
Versions from 1: Kafka 4.0 removed version 0 (KIP-896).
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import describe_log_dirs_response as dl
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Request

CAPACITY = 1 << 40
"""The size the fake reports for each log directory (total bytes)."""


def handle(req: Request) -> Any:
    cluster = req.cluster
    wanted: dict[str, set[int]] | None = None
    if req.body.topics is not None:
        wanted = {}
        for t in req.body.topics:
            wanted.setdefault(t.topic, set()).update(t.partitions)
    topics = []
    used = 0
    for name, topic in sorted(cluster.topics.items()):
        if wanted is not None and name not in wanted:
            continue
        parts = []
        for p in topic.partitions:
            if req.node not in p.replicas or (wanted is not None and p.index not in wanted[name]):
                continue
            size = p.log.size_in_bytes
            used += size
            parts.append(dl.DescribeLogDirsPartition(partition_index=p.index,
                                                     partition_size=size, offset_lag=0,
                                                     is_future_key=False))
        if parts:
            topics.append(dl.DescribeLogDirsTopic(name=name, partitions=parts))
    result = dl.DescribeLogDirsResult(error_code=codes.NONE, log_dir=f"/kproto-fake/{req.node}",
                                      topics=topics, total_bytes=CAPACITY,
                                      usable_bytes=CAPACITY - used)
    return protocol.DescribeLogDirsResponse(error_code=codes.NONE, results=[result])


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.DescribeLogDirsResponse(error_code=code, results=[])


API = Api(apis.DESCRIBE_LOG_DIRS, 1, 4, handle, error_response)
