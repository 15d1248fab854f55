"""ElectLeaders (key 43): elect the preferred (type 0) or any live (type 1, unclean) leader.

Theory of operation: Kafka's ReplicationControlManager.electLeaders. Per partition: an
unknown one is UNKNOWN_TOPIC_OR_PARTITION. Preferred: the first replica already leading is
ELECTION_NOT_NEEDED, a first replica down or out of the ISR PREFERRED_LEADER_NOT_AVAILABLE,
otherwise it becomes the leader (epoch + 1). Unclean: a live leader is ELECTION_NOT_NEEDED,
otherwise the first live replica leads (none: ELIGIBLE_LEADERS_NOT_AVAILABLE). Null
partitions asks for every partition and, as Kafka, leaves ELECTION_NOT_NEEDED out.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import elect_leaders_response as el
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Request
from kproto.testing.fake.state import Partition

PREFERRED, UNCLEAN = 0, 1


def _elect(req: Request, p: Partition, election: int) -> int:
    brokers = req.cluster.brokers
    if election == PREFERRED:
        first = p.replicas[0]
        if p.leader == first:
            return codes.ELECTION_NOT_NEEDED
        if first not in p.isr or not brokers[first].up:
            return codes.PREFERRED_LEADER_NOT_AVAILABLE
        req.cluster.move_leader(p.topic, p.index, first, req.now)
        return codes.NONE
    if election != UNCLEAN:
        return codes.INVALID_REQUEST
    if p.leader >= 0 and brokers[p.leader].up:
        return codes.ELECTION_NOT_NEEDED
    live = [r for r in p.replicas if brokers[r].up]
    if not live:
        return codes.ELIGIBLE_LEADERS_NOT_AVAILABLE
    req.cluster.move_leader(p.topic, p.index, live[0], req.now)
    return codes.NONE


def handle(req: Request) -> Any:
    cluster = req.cluster
    election = req.body.election_type if req.version >= 1 else PREFERRED
    every = req.body.topic_partitions is None
    wanted: list[tuple[str, list[int]]] = (
        [(t.name, [p.index for p in t.partitions]) for t in cluster.topics.values()] if every
        else [(t.topic, list(t.partitions)) for t in req.body.topic_partitions])
    results = []
    for topic, indexes in wanted:
        parts = []
        for index in indexes:
            p = cluster.partition(topic, index)
            code = codes.UNKNOWN_TOPIC_OR_PARTITION if p is None else _elect(req, p, election)
            if every and code == codes.ELECTION_NOT_NEEDED:
                continue
            parts.append(el.PartitionResult(partition_id=index, error_code=code))
        if parts or not every:
            results.append(el.ReplicaElectionResult(topic=topic, partition_result=parts))
    return protocol.ElectLeadersResponse(error_code=codes.NONE, replica_election_results=results)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.ElectLeadersResponse(error_code=code, replica_election_results=[])


API = Api(apis.ELECT_LEADERS, 0, 2, handle, error_response)
