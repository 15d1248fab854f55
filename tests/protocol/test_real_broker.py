"""kproto's codec against a real broker: requests it accepts, responses kproto decodes.

For ApiVersions, Metadata, DescribeConfigs and ListOffsets, the lowest and the highest version
both the broker (per ApiVersions) and kproto support are exercised through the tiny blocking
client in tests/support/rawclient.py. With KPROTO_CAPTURE=1 the response frames are also
written to tests/protocol/golden/broker_responses.json, which test_golden.py decodes offline.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kproto.protocol import (
    API_SPECS,
    ApiVersionsRequest,
    ApiVersionsResponse,
    DescribeConfigsRequest,
    DescribeConfigsResponse,
    ListOffsetsRequest,
    ListOffsetsResponse,
    Message,
    MetadataRequest,
    MetadataResponse,
)
from kproto.protocol.messages import describe_configs_request as dc
from kproto.protocol.messages import list_offsets_request as lo
from kproto.protocol.messages import metadata_request as mq
from tests.support.rawclient import RawClient

CAPTURE_FILE = Path(__file__).parent / "golden" / "broker_responses.json"
CAPTURE = os.environ.get("KPROTO_CAPTURE", "") not in ("", "0")
PARTITIONS = 3
TOPIC_RESOURCE = 2
LATEST = -1
READY_TIMEOUT = 30.0
POLL = 0.1
RETRIABLE = {0, 3, 5, 6}  # NONE, UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, NOT_LEADER


class Captured:
    """Response frames collected during the module, written once at the end."""

    def __init__(self, broker_version: str) -> None:
        self.broker_version = broker_version
        self.frames: list[dict[str, Any]] = []

    def add(
        self,
        name: str,
        version: int,
        correlation_id: int,
        frame: bytes,
        response: object,
        expect: list[str],
    ) -> None:
        assert isinstance(response, Message)
        values = {path: _lookup(response, path) for path in expect}
        self.frames.append(
            {
                "id": f"kafka-{self.broker_version}-{name}-v{version}",
                "api_key": response.API_KEY,
                "message": type(response).__name__,
                "version": version,
                "correlation_id": correlation_id,
                "hex": frame.hex(),
                "expect": values,
            }
        )

    def write(self) -> None:
        existing: dict[str, Any] = {"frames": []}
        if CAPTURE_FILE.exists():
            existing = json.loads(CAPTURE_FILE.read_text(encoding="utf-8"))
        ours = {f["id"] for f in self.frames}
        frames = [f for f in existing["frames"] if f["id"] not in ours] + self.frames
        frames.sort(key=lambda f: f["id"])
        doc = {
            "source": "tests/protocol/test_real_broker.py with KPROTO_CAPTURE=1",
            "frames": frames,
        }
        CAPTURE_FILE.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def _lookup(obj: object, path: str) -> Any:
    for part in path.split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)  # type: ignore[index]
    if isinstance(obj, uuid.UUID):
        return str(obj)
    return obj


@pytest.fixture(scope="module")
def captured(kafka_broker: Any) -> Iterator[Captured]:
    store = Captured(str(getattr(kafka_broker, "version", "unknown")))
    yield store
    if CAPTURE and store.frames:
        store.write()


def list_latest(name: str, partitions: int) -> ListOffsetsRequest:
    return ListOffsetsRequest(
        replica_id=-1,
        topics=[
            lo.ListOffsetsTopic(
                name=name,
                partitions=[
                    lo.ListOffsetsPartition(partition_index=i, timestamp=LATEST)
                    for i in range(partitions)
                ],
            )
        ],
    )


@pytest.fixture(scope="module")
def topic(kafka_broker: Any, broker_versions: dict[int, tuple[int, int]]) -> str:
    name = f"kproto-codec-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(name, partitions=PARTITIONS)
    # Metadata can name a leader a moment before that broker serves the partition: wait until
    # every partition answers ListOffsets (NOT_LEADER_OR_FOLLOWER is retriable).
    version = lowest_and_highest(broker_versions, 2)[-1]
    deadline = time.monotonic() + READY_TIMEOUT
    with RawClient(kafka_broker.bootstrap) as client:
        while True:
            response = client.request(list_latest(name, PARTITIONS), version)
            assert isinstance(response, ListOffsetsResponse)
            codes = {p.error_code for t in response.topics for p in t.partitions}
            if codes == {0}:
                return name
            assert codes <= RETRIABLE, codes
            assert time.monotonic() < deadline, f"{name} not ready: error codes {codes}"
            time.sleep(POLL)


@pytest.fixture
def raw(kafka_broker: Any) -> Iterator[RawClient]:
    with RawClient(kafka_broker.bootstrap) as client:
        yield client


@pytest.fixture(scope="module")
def broker_versions(kafka_broker: Any) -> dict[int, tuple[int, int]]:
    with RawClient(kafka_broker.bootstrap) as client:
        return client.api_versions()


def lowest_and_highest(broker_versions: dict[int, tuple[int, int]], key: int) -> list[int]:
    spec = API_SPECS[key]
    theirs = broker_versions[key]
    lo_v, hi_v = max(spec.min_version, theirs[0]), min(spec.max_version, theirs[1])
    assert lo_v <= hi_v, f"no common version of {spec.name}: ours {spec.min_version}-"
    return sorted({lo_v, hi_v})


def test_api_versions(
    raw: RawClient, broker_versions: dict[int, tuple[int, int]], captured: Captured
) -> None:
    seen = []
    for version in lowest_and_highest(broker_versions, 18):
        request = ApiVersionsRequest(client_software_name="kproto", client_software_version="0.1")
        cid, frame, response = raw.exchange(request, version)
        assert isinstance(response, ApiVersionsResponse)
        assert response.error_code == 0
        keys = {k.api_key: (k.min_version, k.max_version) for k in response.api_keys}
        assert {0, 1, 3, 18, 32}.issubset(keys)
        seen.append(keys)
        captured.add(
            "api_versions", version, cid, frame, response, ["error_code", "api_keys.0.api_key"]
        )
    assert all(s == seen[0] for s in seen)


def test_metadata(
    raw: RawClient,
    broker_versions: dict[int, tuple[int, int]],
    topic: str,
    kafka_broker: Any,
    captured: Captured,
) -> None:
    port = int(kafka_broker.bootstrap.split(",")[0].rsplit(":", 1)[1])
    for version in lowest_and_highest(broker_versions, 3):
        # allow_auto_topic_creation exists from v4 (before that brokers always auto-create).
        request = MetadataRequest(
            topics=[mq.MetadataRequestTopic(name=topic)], allow_auto_topic_creation=version < 4
        )
        cid, frame, response = raw.exchange(request, version)
        assert isinstance(response, MetadataResponse)
        assert port in {b.port for b in response.brokers}
        [t] = response.topics
        assert (t.name, t.error_code) == (topic, 0)
        assert sorted(p.partition_index for p in t.partitions) == list(range(PARTITIONS))
        for p in t.partitions:
            assert p.leader_id in {b.node_id for b in response.brokers}
            assert p.leader_id in p.isr_nodes
        if version >= 10:
            assert t.topic_id != uuid.UUID(int=0)
        if version >= 2:
            assert response.cluster_id
        captured.add(
            "metadata",
            version,
            cid,
            frame,
            response,
            ["topics.0.name", "topics.0.error_code", "brokers.0.port"],
        )


def test_describe_configs(
    raw: RawClient,
    broker_versions: dict[int, tuple[int, int]],
    topic: str,
    captured: Captured,
) -> None:
    for version in lowest_and_highest(broker_versions, 32):
        request = DescribeConfigsRequest(
            resources=[
                dc.DescribeConfigsResource(
                    resource_type=TOPIC_RESOURCE, resource_name=topic, configuration_keys=None
                )
            ],
            include_synonyms=version >= 1,
            include_documentation=version >= 3,
        )
        cid, frame, response = raw.exchange(request, version)
        assert isinstance(response, DescribeConfigsResponse)
        [result] = response.results
        assert (result.error_code, result.resource_name) == (0, topic)
        configs = {c.name: c for c in result.configs}
        assert configs["cleanup.policy"].value == "delete"
        assert "retention.ms" in configs
        if version >= 3:
            assert any(c.documentation for c in result.configs)
        captured.add(
            "describe_configs",
            version,
            cid,
            frame,
            response,
            ["results.0.resource_name", "results.0.error_code"],
        )


def test_list_offsets(
    raw: RawClient,
    broker_versions: dict[int, tuple[int, int]],
    topic: str,
    captured: Captured,
) -> None:
    for version in lowest_and_highest(broker_versions, 2):
        cid, frame, response = raw.exchange(list_latest(topic, PARTITIONS), version)
        assert isinstance(response, ListOffsetsResponse)
        [t] = response.topics
        assert t.name == topic
        assert sorted(p.partition_index for p in t.partitions) == list(range(PARTITIONS))
        for p in t.partitions:
            assert p.error_code == 0
            if version == 0:
                assert p.old_style_offsets == [0]
            else:
                assert p.offset == 0
        captured.add(
            "list_offsets",
            version,
            cid,
            frame,
            response,
            ["topics.0.name", "topics.0.partitions.0.error_code"],
        )
