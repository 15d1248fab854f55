"""kproto's side of the golden vectors: the same messages GoldenVectors.java builds.

Each function here mirrors the Java builder of the same name in
tests/java/golden/GoldenVectors.java; ``CASES`` maps a vector id to the message kproto must
encode to exactly the Java bytes (and decode them back to).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from kproto.protocol import (
    ApiVersionsRequest,
    ApiVersionsResponse,
    ConsumerProtocolSubscription,
    CreateTopicsRequest,
    DescribeConfigsResponse,
    FetchRequest,
    FetchResponse,
    FindCoordinatorRequest,
    JoinGroupRequest,
    ListOffsetsRequest,
    Message,
    MetadataRequest,
    MetadataResponse,
    ProduceRequest,
    ProduceResponse,
    RequestHeader,
)
from kproto.protocol.messages import api_versions_response as av
from kproto.protocol.messages import consumer_protocol_subscription as cps
from kproto.protocol.messages import create_topics_request as ct
from kproto.protocol.messages import describe_configs_response as dc
from kproto.protocol.messages import fetch_request as fq
from kproto.protocol.messages import fetch_response as fr
from kproto.protocol.messages import join_group_request as jg
from kproto.protocol.messages import list_offsets_request as lo
from kproto.protocol.messages import metadata_request as mq
from kproto.protocol.messages import metadata_response as mr
from kproto.protocol.messages import produce_request as pq
from kproto.protocol.messages import produce_response as pr

TOPIC_ID = uuid.UUID("01234567-89ab-cdef-0fed-cba987654321")
RECORDS = b"not parsed here: raw record-batch bytes"


def api_versions_response() -> ApiVersionsResponse:
    return ApiVersionsResponse(
        error_code=0,
        throttle_time_ms=0,
        api_keys=[
            av.ApiVersion(api_key=0, min_version=0, max_version=11),
            av.ApiVersion(api_key=3, min_version=0, max_version=12),
            av.ApiVersion(api_key=18, min_version=0, max_version=4),
        ],
    )


def api_versions_response_with_features() -> ApiVersionsResponse:
    data = api_versions_response()
    data.throttle_time_ms = 25
    data.finalized_features_epoch = 7
    data.supported_features = [
        av.SupportedFeatureKey(name="metadata.version", min_version=1, max_version=21)
    ]
    data.finalized_features = [
        av.FinalizedFeatureKey(name="metadata.version", min_version_level=1, max_version_level=21)
    ]
    data.zk_migration_ready = True
    return data


def metadata_request(with_ids: bool) -> MetadataRequest:
    return MetadataRequest(
        allow_auto_topic_creation=False,
        include_topic_authorized_operations=with_ids,
        topics=[
            mq.MetadataRequestTopic(name="orders"),
            mq.MetadataRequestTopic(
                name="payments", topic_id=TOPIC_ID if with_ids else uuid.UUID(int=0)
            ),
        ],
    )


def metadata_response(with_ids: bool, with_operations: bool) -> MetadataResponse:
    topic = mr.MetadataResponseTopic(
        error_code=0,
        name="orders",
        is_internal=False,
        topic_authorized_operations=0x0F if with_operations else -(2**31),
        topic_id=TOPIC_ID if with_ids else uuid.UUID(int=0),
        partitions=[
            mr.MetadataResponsePartition(
                error_code=0,
                partition_index=i,
                leader_id=1 + i % 2,
                leader_epoch=5,
                replica_nodes=[1, 2],
                isr_nodes=[1 + i % 2],
                offline_replicas=[2] if i == 2 else [],
            )
            for i in range(3)
        ],
    )
    return MetadataResponse(
        throttle_time_ms=3,
        cluster_id="kproto-cluster",
        controller_id=1,
        brokers=[
            mr.MetadataResponseBroker(node_id=1, host="127.0.0.1", port=9092, rack="rack-a"),
            mr.MetadataResponseBroker(node_id=2, host="127.0.0.2", port=9093, rack=None),
        ],
        topics=[
            topic,
            mr.MetadataResponseTopic(error_code=3, name="missing", is_internal=False),
        ],
    )


def produce_request(transactional: bool) -> ProduceRequest:
    return ProduceRequest(
        acks=-1,
        timeout_ms=30000,
        transactional_id="txn-1" if transactional else None,
        topic_data=[
            pq.TopicProduceData(
                name="orders",
                partition_data=[
                    pq.PartitionProduceData(index=0, records=RECORDS),
                    pq.PartitionProduceData(index=1, records=None),
                ],
            )
        ],
    )


def produce_response(tagged: bool) -> ProduceResponse:
    ok = pr.PartitionProduceResponse(
        index=0, error_code=0, base_offset=1234, log_append_time_ms=-1, log_start_offset=0
    )
    moved = pr.PartitionProduceResponse(
        index=1,
        error_code=6,
        base_offset=-1,
        error_message="not the leader",
        record_errors=[
            pr.BatchIndexAndErrorMessage(batch_index=2, batch_index_error_message="bad record")
        ],
    )
    data = ProduceResponse(
        throttle_time_ms=10,
        responses=[pr.TopicProduceResponse(name="orders", partition_responses=[ok, moved])],
    )
    if tagged:
        moved.current_leader = pr.LeaderIdAndEpoch(leader_id=2, leader_epoch=9)
        data.node_endpoints = [
            pr.NodeEndpoint(node_id=2, host="127.0.0.2", port=9093, rack="rack-b")
        ]
    return data


def fetch_request(with_ids: bool, *, rack: str = "rack-a", forget: bool = True) -> FetchRequest:
    topic = fq.FetchTopic(
        partitions=[
            fq.FetchPartition(
                partition=0,
                current_leader_epoch=5,
                fetch_offset=100,
                last_fetched_epoch=-1,
                log_start_offset=-1,
                partition_max_bytes=1048576,
            )
        ]
    )
    forgotten = fq.ForgottenTopic(partitions=[3, 4])
    if with_ids:
        topic.topic_id = TOPIC_ID
        forgotten.topic_id = TOPIC_ID
    else:
        topic.topic = "orders"
        forgotten.topic = "orders"
    return FetchRequest(
        cluster_id="kproto-cluster" if with_ids else None,
        max_wait_ms=500,
        min_bytes=1,
        max_bytes=52428800,
        isolation_level=1,
        session_id=0,
        session_epoch=-1,
        rack_id=rack,
        topics=[topic],
        forgotten_topics_data=[forgotten] if forget else [],
    )


def follower_fetch_request() -> FetchRequest:
    """A follower's fetch: the replica state and directory id are tagged fields."""
    data = fetch_request(True)
    data.replica_state = fq.ReplicaState(replica_id=3, replica_epoch=7)
    data.topics[0].partitions[0].replica_directory_id = TOPIC_ID
    return data


def fetch_response(with_ids: bool, tagged: bool, session_id: int) -> FetchResponse:
    p0 = fr.PartitionData(
        partition_index=0,
        error_code=0,
        high_watermark=200,
        last_stable_offset=190,
        log_start_offset=0,
        preferred_read_replica=-1,
        records=RECORDS,
        aborted_transactions=[fr.AbortedTransaction(producer_id=42, first_offset=150)],
    )
    p1 = fr.PartitionData(
        partition_index=1,
        error_code=6,
        high_watermark=-1,
        aborted_transactions=None,
        records=None,
    )
    if tagged:
        p0.diverging_epoch = fr.EpochEndOffset(epoch=4, end_offset=180)
        p1.current_leader = fr.LeaderIdAndEpoch(leader_id=2, leader_epoch=6)
        p1.snapshot_id = fr.SnapshotId(end_offset=99, epoch=3)
    topic = fr.FetchableTopicResponse(partitions=[p0, p1])
    if with_ids:
        topic.topic_id = TOPIC_ID
    else:
        topic.topic = "orders"
    data = FetchResponse(throttle_time_ms=0, error_code=0, session_id=session_id, responses=[topic])
    if tagged and with_ids:
        data.node_endpoints = [fr.NodeEndpoint(node_id=2, host="127.0.0.2", port=9093, rack=None)]
    return data


def list_offsets_request() -> ListOffsetsRequest:
    return ListOffsetsRequest(
        replica_id=-1,
        isolation_level=1,
        topics=[
            lo.ListOffsetsTopic(
                name="orders",
                partitions=[
                    lo.ListOffsetsPartition(
                        partition_index=0, current_leader_epoch=5, timestamp=-1
                    ),
                    lo.ListOffsetsPartition(partition_index=1, timestamp=-2),
                ],
            )
        ],
    )


def join_group_request() -> JoinGroupRequest:
    return JoinGroupRequest(
        group_id="group-a",
        session_timeout_ms=45000,
        rebalance_timeout_ms=300000,
        member_id="",
        group_instance_id="instance-1",
        protocol_type="consumer",
        reason="joining",
        protocols=[
            jg.JoinGroupRequestProtocol(
                name="range", metadata=bytes([0, 3, 0, 0, 0, 1, 0, 6]) + b"orders"
            )
        ],
    )


def describe_configs_response() -> DescribeConfigsResponse:
    return DescribeConfigsResponse(
        throttle_time_ms=0,
        results=[
            dc.DescribeConfigsResult(
                error_code=0,
                error_message=None,
                resource_type=2,
                resource_name="orders",
                configs=[
                    dc.DescribeConfigsResourceResult(
                        name="retention.ms",
                        value="604800000",
                        read_only=False,
                        config_source=5,
                        is_sensitive=False,
                        config_type=5,
                        documentation="How long to keep a log segment",
                        synonyms=[
                            dc.DescribeConfigsSynonym(name="log.retention.ms", value=None, source=5)
                        ],
                    ),
                    dc.DescribeConfigsResourceResult(
                        name="sasl.jaas.config",
                        value=None,
                        read_only=True,
                        config_source=4,
                        is_sensitive=True,
                        documentation=None,
                    ),
                ],
            )
        ],
    )


def create_topics_request() -> CreateTopicsRequest:
    return CreateTopicsRequest(
        timeout_ms=30000,
        validate_only=False,
        topics=[
            ct.CreatableTopic(
                name="orders",
                num_partitions=-1,
                replication_factor=-1,
                assignments=[ct.CreatableReplicaAssignment(partition_index=0, broker_ids=[1, 2])],
                configs=[
                    ct.CreatableTopicConfig(name="cleanup.policy", value="compact"),
                    ct.CreatableTopicConfig(name="segment.bytes", value=None),
                ],
            )
        ],
    )


def subscription() -> ConsumerProtocolSubscription:
    return ConsumerProtocolSubscription(
        topics=["orders", "payments"],
        user_data=bytes([1, 2, 3]),
        generation_id=4,
        rack_id="rack-a",
        owned_partitions=[cps.TopicPartition(topic="orders", partitions=[0, 2])],
    )


def request_header() -> RequestHeader:
    return RequestHeader(
        request_api_key=3, request_api_version=12, correlation_id=42, client_id="kproto-client"
    )


def with_unknown_tags(message: Message) -> Message:
    """Tags kproto does not know survive a decode/encode round trip untouched."""
    message.unknown_tagged_fields = [(7, bytes([1, 2, 3])), (200, b"")]
    return message


CASES: dict[str, Callable[[], Message]] = {
    "api_versions_request_v0": ApiVersionsRequest,
    "api_versions_request_v3": lambda: ApiVersionsRequest(
        client_software_name="kproto", client_software_version="0.1.0"
    ),
    "api_versions_response_v0": api_versions_response,
    "api_versions_response_v3": api_versions_response_with_features,
    "metadata_request_v4": lambda: metadata_request(False),
    "metadata_request_v12": lambda: metadata_request(True),
    "metadata_response_v1": lambda: metadata_response(False, False),
    "metadata_response_v8": lambda: metadata_response(False, True),
    "metadata_response_v12": lambda: metadata_response(True, True),
    "produce_request_v3": lambda: produce_request(True),
    "produce_request_v9": lambda: produce_request(False),
    "produce_response_v7": lambda: produce_response(False),
    "produce_response_v8": lambda: produce_response(False),
    "produce_response_v10": lambda: produce_response(True),
    "fetch_request_v4": lambda: fetch_request(False, rack="", forget=False),
    "fetch_request_v11": lambda: fetch_request(False),
    "fetch_request_v13": lambda: fetch_request(True),
    "fetch_request_v17": follower_fetch_request,
    "fetch_response_v4": lambda: fetch_response(False, False, 0),
    "fetch_response_v11": lambda: fetch_response(False, False, 77),
    "fetch_response_v12": lambda: fetch_response(False, True, 77),
    "fetch_response_v16": lambda: fetch_response(True, True, 77),
    "list_offsets_request_v9": list_offsets_request,
    "find_coordinator_request_v4": lambda: FindCoordinatorRequest(
        key_type=0, coordinator_keys=["group-a", "group-b"]
    ),
    "join_group_request_v9": join_group_request,
    "describe_configs_response_v1": describe_configs_response,
    "describe_configs_response_v4": describe_configs_response,
    "create_topics_request_v7": create_topics_request,
    "consumer_subscription_v3": subscription,
    "request_header_v1": request_header,
    "request_header_v2": request_header,
    "metadata_request_v12_unknown_tags": lambda: with_unknown_tags(metadata_request(True)),
    "api_versions_response_v3_unknown_tags": lambda: with_unknown_tags(
        api_versions_response_with_features()
    ),
}
