"""DescribeCluster (key 60): the live brokers, the cluster id and the controller.

Theory of operation: the same broker list as Metadata; endpoint type 1 (brokers) only, any
other (controllers, version 1) is UNSUPPORTED_ENDPOINT_TYPE as from a broker listener.
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.errors import UnsupportedEndpointTypeError
from kproto.protocol import apis
from kproto.protocol.messages import describe_cluster_response as dc
from kproto.testing.fake.apis._base import Api, Request


def handle(req: Request) -> Any:
    cluster = req.cluster
    if req.version >= 1 and req.body.endpoint_type != 1:
        return error_response(req.body, req.version, UnsupportedEndpointTypeError.code)
    live = [b for b in cluster.brokers.values() if b.up]
    return protocol.DescribeClusterResponse(
        error_code=0, cluster_id=cluster.cluster_id,
        controller_id=min(b.node_id for b in live) if live else -1,
        brokers=[dc.DescribeClusterBroker(broker_id=b.node_id, host=host, port=port,
                                          rack=b.rack)
                 for b in live for host, port in [b.address(req.conn.listener)]])


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.DescribeClusterResponse(error_code=code, cluster_id="", controller_id=-1,
                                            brokers=[])


API = Api(apis.DESCRIBE_CLUSTER, 0, 1, handle, error_response)
