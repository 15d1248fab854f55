"""Golden vectors: kproto's bytes must equal the Java client's, byte for byte.

tests/protocol/golden/java_vectors.json was written by tests/java/golden/GoldenVectors.java
(kafka-clients' own serializers); tests/protocol/golden_cases.py builds the same messages with
kproto. The interop test reruns the Java program and checks the committed vectors are still
what it produces. tests/protocol/golden/broker_responses.json holds response frames captured
from a real broker (see test_real_broker.py), which kproto must decode and re-encode exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import kproto.protocol as protocol
from kproto.protocol import Message, decode_response, encode_response
from tests.protocol.golden_cases import CASES
from tests.protocol.java_interop import run_java_source

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
JAVA_VECTORS = HERE / "golden" / "java_vectors.json"
BROKER_FRAMES = HERE / "golden" / "broker_responses.json"
GOLDEN_JAVA = ROOT / "tests" / "java" / "golden" / "GoldenVectors.java"

# Cases whose message sets fields that do not exist at the vector's version (ignorable ones,
# dropped by Java and kproto alike), so decoding gives the defaults back instead.
LOSSY = {
    "metadata_response_v1",
    "produce_response_v7",
    "fetch_request_v4",
    "fetch_response_v4",
    "describe_configs_response_v1",
}


def _vectors() -> list[dict[str, Any]]:
    data = json.loads(JAVA_VECTORS.read_text(encoding="utf-8"))
    vectors: list[dict[str, Any]] = data["vectors"]
    return vectors


VECTORS = _vectors()


def _message_class(name: str) -> type[Message]:
    cls = getattr(protocol, name)
    assert issubclass(cls, Message)
    return cls


def test_enough_vectors_and_every_case_mirrored() -> None:
    assert len({(v["message"], v["version"]) for v in VECTORS}) >= 20
    assert {v["id"] for v in VECTORS} == set(CASES)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_kproto_writes_the_java_bytes(vector: dict[str, Any]) -> None:
    message = CASES[vector["id"]]()
    assert type(message).__name__ == vector["message"]
    assert message.encode(vector["version"]).hex() == vector["hex"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_kproto_reads_the_java_bytes(vector: dict[str, Any]) -> None:
    cls = _message_class(vector["message"])
    data = bytes.fromhex(vector["hex"])
    decoded = cls.decode(data, vector["version"])
    assert decoded.encode(vector["version"]) == data
    expected = CASES[vector["id"]]()
    if vector["id"] in LOSSY:
        assert decoded != expected
    else:
        assert decoded == expected


def test_unknown_tags_are_kept_in_order() -> None:
    vector = next(v for v in VECTORS if v["id"] == "api_versions_response_v3_unknown_tags")
    decoded = protocol.ApiVersionsResponse.decode(bytes.fromhex(vector["hex"]), 3)
    assert decoded.unknown_tagged_fields == [(7, b"\x01\x02\x03"), (200, b"")]
    assert decoded.finalized_features_epoch == 7
    assert decoded.zk_migration_ready is True


@pytest.mark.interop
def test_java_program_reproduces_the_committed_vectors() -> None:
    output = run_java_source(GOLDEN_JAVA)
    fresh = json.loads(output)
    committed = json.loads(JAVA_VECTORS.read_text(encoding="utf-8"))
    assert fresh == committed


def _broker_frames() -> list[dict[str, Any]]:
    if not BROKER_FRAMES.exists():
        return []
    frames: list[dict[str, Any]] = json.loads(BROKER_FRAMES.read_text(encoding="utf-8"))["frames"]
    return frames


BROKER = _broker_frames()


def test_broker_frames_were_captured() -> None:
    assert len(BROKER) >= 4, "run tests/protocol/test_real_broker.py with KPROTO_CAPTURE=1"


@pytest.mark.parametrize("frame", BROKER, ids=[f["id"] for f in BROKER])
def test_kproto_reads_broker_frames(frame: dict[str, Any]) -> None:
    raw = bytes.fromhex(frame["hex"])
    api_key, version = frame["api_key"], frame["version"]
    correlation_id, response = decode_response(raw, api_key, version)
    assert correlation_id == frame["correlation_id"]
    assert type(response).__name__ == frame["message"]
    assert isinstance(response, Message)
    # Writing the decoded response back gives the broker's frame exactly.
    again = encode_response(response, version, correlation_id, api_key)
    assert again[4:] == raw
    for path, value in frame.get("expect", {}).items():
        assert _lookup(response, path) == value, path


def _lookup(obj: object, path: str) -> object:
    for part in path.split("."):
        if part.isdigit():
            assert isinstance(obj, list)
            obj = obj[int(part)]
        else:
            obj = getattr(obj, part)
    return obj
