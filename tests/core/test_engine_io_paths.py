"""The engine's per-round-trip shortcuts keep their behaviour: which connections
``pending_writes`` reports, a receive chunk holding whole frames plus a partial one (from a
caller buffer reused after the call), the cached request header, and a fetch session fed
the same parameter objects again."""

from __future__ import annotations

import random
import uuid

from kproto import protocol
from kproto.config import Config
from kproto.consumer.fetch_session import FetchSession, PartitionParams
from kproto.engine.client import ClientCore
from kproto.events import OperationCompleted
from tests.core.wire import Wire, all_api_versions, frames, open_action


def _core(bootstrap: str = "b1:9092") -> ClientCore:
    return ClientCore(bootstrap, Config(), rng=random.Random(1), now=0.0)


def _connect(core: ClientCore, node: int | None = None) -> Wire:
    if node is not None:
        core.api_versions(0.0, node_id=node)
    action = open_action(core)
    core.connection_made(action.conn_id, 0.0)
    wire = Wire(core, action.conn_id)
    [(header, _req, version)] = [protocol.decode_request(f) for f in
                                 frames(dict(core.pending_writes())[action.conn_id])]
    wire.reply(header, version, all_api_versions(), 0.0)
    return wire


def _events(core: ClientCore) -> list[object]:
    return list(iter(core.next_event, None))


def test_pending_writes_reports_each_connection_with_bytes_once_in_id_order() -> None:
    core = _core("b1:9092,b2:9092")
    assert core.pending_writes() == []
    a = _connect(core, node=-1)
    b = _connect(core, node=-2)
    assert a.conn_id < b.conn_id
    core.api_versions(0.0, node_id=-2)  # b queues bytes first
    core.api_versions(0.0, node_id=-1)
    assert [c for c, _ in core.pending_writes()] == [a.conn_id, b.conn_id]
    assert core.pending_writes() == []  # drained: reported once
    core.api_versions(0.0, node_id=-1)
    assert core.data_to_send(a.conn_id)  # drained directly: nothing left to report
    assert core.pending_writes() == []
    core.api_versions(0.0, node_id=-1)  # and the next bytes are reported again
    assert [c for c, _ in core.pending_writes()] == [a.conn_id]


def test_pending_writes_skips_a_connection_closed_with_bytes_waiting() -> None:
    core = _core()
    core.api_versions(0.0)
    wire = _connect(core)
    core.api_versions(0.0)  # written, not yet collected
    core.connection_lost(wire.conn_id, "reset", 0.1)
    assert wire.conn_id not in dict(core.pending_writes())


def test_whole_frames_and_a_partial_one_in_a_reused_caller_buffer() -> None:
    core = _core()
    tokens = [core.api_versions(0.0)]
    wire = _connect(core)
    tokens += [core.api_versions(0.0) for _ in range(3)]
    reqs = [protocol.decode_request(f) for f in frames(core.data_to_send(wire.conn_id))]
    blob = b"".join(protocol.encode_response(all_api_versions(), v, h.correlation_id, 18)
                    for h, _r, v in reqs)
    first = len(blob) * 2 // 3  # one whole frame and part of the second
    chunk = bytearray(blob[:first])
    core.receive_data(wire.conn_id, chunk, 0.1)
    chunk[:] = b"\xff" * len(chunk)  # the caller reuses its buffer: the tail was copied
    core.receive_data(wire.conn_id, blob[first:], 0.2)
    done = [e for e in _events(core) if isinstance(e, OperationCompleted)]
    assert [e.token for e in done] == tokens


def test_a_cached_request_header_carries_each_call_s_correlation_id() -> None:
    msg = protocol.HeartbeatRequest(group_id="g", generation_id=1, member_id="m")
    for corr in (1, 2, 0x7FFFFFFF, 1):
        frame = protocol.encode_request(msg, 4, corr, "cid")
        header, req, version = protocol.decode_request(frame[4:])
        assert (header.correlation_id, header.client_id, version) == (corr, "cid", 4)
        assert req == msg
    other = protocol.encode_request(msg, 4, 1, None)
    assert protocol.decode_request(other[4:])[0].client_id is None


def test_an_incremental_request_resends_only_changed_parameters() -> None:
    tid = uuid.uuid4()
    a, b = ("t", 0), ("t", 1)
    pa, pb = PartitionParams(5, 1, 100, tid), PartitionParams(7, 1, 100, tid)
    session = FetchSession(1)
    full = session.prepare({a: pa, b: pb}, True)
    session.succeeded(full, 42)
    same = session.prepare({a: pa, b: PartitionParams(7, 1, 100, tid)}, True)
    assert not same.full and same.send == {} and same.forget == {}
    moved = PartitionParams(9, 1, 100, tid)
    step = session.prepare({a: moved}, True)
    assert step.send == {a: moved} and step.forget == {b: pb}
    session.succeeded(step, 42)
    assert session.sent == {a: moved}
