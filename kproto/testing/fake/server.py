"""One client connection to a fake broker, sans-IO: request bytes in, response bytes out.

Theory of operation: the caller (a test driver, an adapter serving a socket) feeds whatever
bytes arrived with ``receive_data(data, now)`` and writes out ``data_to_send()``; when
``closed`` turns True it closes its side. The connection cuts the stream into size-prefixed
frames (any split or coalescing is fine); a size that is negative or above the cluster's
``max_request_bytes`` (Kafka's socket.request.max.bytes) closes the connection before any
of it is buffered, so bad input cannot grow memory.

Requests are served one at a time in arrival order, as a Kafka broker does (it mutes a
channel while one of its requests is in flight): a request whose answer must wait (a Fetch
waiting for bytes, a JoinGroup waiting for the rebalance, a delay a fault hook added) holds
back the ones behind it. The cluster polls waiting answers after every input and at its
deadlines (``FakeCluster.next_deadline`` / ``handle_timer``; the connection's own
``next_deadline`` and ``handle_timer`` delegate to them).

Refusals follow Kafka: an unknown API key, an API version the cluster does not advertise
(except ApiVersions, answered at version 0 with UNSUPPORTED_VERSION and the versions it
has), a body that does not parse, a request other than ApiVersions and the SASL ones before
authentication on a SASL cluster: the connection closes. Nothing raises to the caller.
"""

from __future__ import annotations

import struct
from collections import deque
from typing import TYPE_CHECKING, Any

from kproto import protocol
from kproto.errors import KprotoError
from kproto.protocol import apis
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import CLOSE, NO_RESPONSE, Pending, Request
from kproto.testing.fake.faults import (
    ANSWER,
    APPLY,
    DELAY,
    DROP,
    ERROR,
    HOLD,
    LOSE,
    RESPOND,
    STALL,
    HeldRequest,
)

if TYPE_CHECKING:
    from kproto.testing.fake.cluster import FakeCluster
    from kproto.testing.fake.sasl import SaslServer

__all__ = ["ServerConnection"]

_HEAD = struct.Struct(">hhi")
_SASL_APIS = (apis.API_VERSIONS, apis.SASL_HANDSHAKE, apis.SASL_AUTHENTICATE)
_NO_CHANGE = frozenset((
    apis.FETCH, apis.PRODUCE, apis.HEARTBEAT, apis.API_VERSIONS, apis.SASL_HANDSHAKE, apis.SASL_AUTHENTICATE,
    apis.METADATA, apis.FIND_COORDINATOR, apis.LIST_OFFSETS, apis.OFFSET_FOR_LEADER_EPOCH,
    apis.JOIN_GROUP, apis.SYNC_GROUP, apis.LEAVE_GROUP, apis.OFFSET_COMMIT, apis.OFFSET_FETCH,
    apis.DESCRIBE_GROUPS, apis.LIST_GROUPS, apis.ADD_PARTITIONS_TO_TXN, apis.ADD_OFFSETS_TO_TXN,
    apis.TXN_OFFSET_COMMIT, apis.DESCRIBE_CLUSTER, apis.DESCRIBE_CONFIGS))
"""APIs whose requests change nothing a waiting Fetch reads (``FakeCluster.changes``): no
log, high watermark, last stable offset, leader, epoch or topic (a Produce request counts in
the logs it writes, ``PartitionLog.writes``; a Metadata request that creates a topic counts
through ``create_topic``; a transaction's partitions and offsets
touch the logs only at EndTxn, its timeout or InitProducerId, which count). Group,
coordinator and transaction-membership requests were over half of what made every waiting
Fetch re-read its partitions in the default simulation (680 of 1,500 requests)."""


def _ready(value: Any, deadline: float | None) -> Pending:
    """A Pending that is already answered (held only by a delay)."""
    return Pending(lambda _now, _expired: value, deadline)


class _Waiting:
    __slots__ = ("api_key", "correlation_id", "delay_until", "pending", "version")

    def __init__(self, api_key: int, version: int, correlation_id: int, pending: Pending,
                 delay_until: float | None) -> None:
        self.api_key = api_key
        self.version = version
        self.correlation_id = correlation_id
        self.pending = pending
        self.delay_until = delay_until


class ServerConnection:
    """See the module docstring. Made by ``FakeCluster.connect``."""

    def __init__(self, cluster: FakeCluster, conn_id: int, node_id: int, client_host: str,
                 now: float) -> None:
        self.cluster = cluster
        self.conn_id = conn_id
        self.node_id = node_id
        self.client_host = client_host
        self.listener = ""  # the listener it came in on ("": the main one)
        self.opened_at = now
        self.closed = False
        self.close_reason = ""
        self.stalled = False
        self.requests = 0
        self.sasl: SaslServer | None = None
        self.sasl_mechanism: str | None = None
        self.authenticated = not cluster.sasl_users
        self.principal: str | None = None
        self._buf = bytearray()
        self._frames: deque[bytes] = deque()
        self._out = bytearray()
        self._waiting: _Waiting | None = None
        self._close_after_flush = False
        self._lose_next = False
        self.quiet: tuple[int, int] | None = None
        """Set by a waiting Fetch that found nothing new: (``cluster.changes``,
        ``PartitionLog.all_writes``) when it read. While both stay so and before
        ``quiet_until`` (its expiry), polling it would answer "not yet" again, so
        ``FakeCluster.poll_waiting`` skips it. Cleared whenever the waiting answer is polled."""
        self.quiet_until = 0.0

    # -- the caller's side -------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        if self.closed:
            return
        self._buf += data
        limit = self.cluster.max_request_bytes
        buf = self._buf
        while len(buf) >= 4:
            size = int.from_bytes(buf[:4], "big", signed=True)
            if size < 0 or size > limit:
                self.close(f"request size {size} is outside 0..{limit}")
                return
            if len(buf) < 4 + size:
                break
            self._frames.append(bytes(buf[4:4 + size]))
            del buf[:4 + size]
        self._pump(now)
        self.cluster.poll_waiting(now)

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    @property
    def has_output(self) -> bool:
        """Bytes are waiting for ``data_to_send``."""
        return bool(self._out)

    def connection_lost(self, now: float) -> None:
        """The client went away."""
        self._shut("closed by the client")

    def next_deadline(self) -> float | None:
        return self.cluster.next_deadline()

    def handle_timer(self, now: float) -> None:
        self.cluster.handle_timer(now)

    def close(self, reason: str) -> None:
        """Close from the broker's side (a refusal or a fault)."""
        self._shut(reason)

    def _shut(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.close_reason = reason
            if self.cluster.outbox is not None:
                self.cluster.outbox.add(self)
            self._frames.clear()
            self._waiting = None
            self.cluster.waiting.pop(self.conn_id, None)
            self.cluster.forget(self)
            held = self.cluster.faults.held
            if held:
                held[:] = [h for h in held if h.conn_id != self.conn_id]

    @property
    def queued_requests(self) -> int:
        """Whole requests received but not read yet: they wait behind an unanswered one."""
        return len(self._frames)

    @property
    def waiting_deadline(self) -> float | None:
        w = self._waiting
        if w is None:
            return None
        if w.delay_until is not None:
            return max(w.delay_until, w.pending.deadline or w.delay_until)
        return w.pending.deadline

    # -- serving -----------------------------------------------------------------------------

    def poll(self, now: float) -> bool:
        """Try to finish the waiting answer; True when one went out."""
        w = self._waiting
        if w is None or self.closed:
            return False
        self.quiet = None
        expired = w.pending.deadline is not None and now >= w.pending.deadline
        try:
            value = w.pending.poll(now, expired)
        except Exception as exc:  # as in _serve: close, never raise to the caller
            self.close(f"request could not be served: {exc!r}")
            return True
        if value is None:
            return False
        if w.delay_until is not None and now < w.delay_until:
            # Answer ready, but a fault hook holds it until the delay is over.
            w.pending = Pending(lambda _now, expired: value if expired else None,
                                w.delay_until)
            w.delay_until = None
            return False
        self._waiting = None
        self.cluster.waiting.pop(self.conn_id, None)
        self._emit(w.api_key, w.version, w.correlation_id, value)
        self._pump(now)
        return True

    def _pump(self, now: float) -> None:
        while (not self.closed and self._waiting is None and self._frames
               and not self.stalled and self.node_id not in self.cluster.stalled_brokers):
            self._serve(self._frames.popleft(), now)

    def _serve(self, frame: bytes, now: float) -> None:
        self.requests += 1
        if len(frame) < 8:
            self.close("request frame too short for a header")
            return
        api_key, version, correlation_id = _HEAD.unpack_from(frame, 0)
        if api_key not in _NO_CHANGE:
            self.cluster.changes += 1
        api = self.cluster.apis.get(api_key)
        if api is None:
            self.close(f"unknown or unsupported API key {api_key}")
            return
        if not api.min_version <= version <= api.max_version:
            if api_key == apis.API_VERSIONS:
                self._emit(api_key, 0, correlation_id,
                           self.cluster.api_versions_response(codes.UNSUPPORTED_VERSION))
                return
            self.close(f"API {api_key} version {version} is not supported")
            return
        try:
            header, body, _ = protocol.decode_request(frame)
        except (KprotoError, ValueError, IndexError, UnicodeDecodeError) as exc:
            self.close(f"request does not parse: {exc}")
            return
        if header.client_id is not None and self.requests == 1:
            self.client_id = header.client_id
        if not self.authenticated and api_key not in _SASL_APIS:
            self.close("request before SASL authentication")
            return
        req = Request(self.cluster, self, api_key, header, body, version, now)
        faults = self.cluster.faults
        for watch in faults.watchers:
            watch(api_key, self.node_id, body, version)
        decision = faults.on_request(api_key, self.node_id)
        delay_until: float | None = None
        if decision is not None:
            if decision.action == DROP:
                self.close(f"connection dropped by a fault hook at API {api_key}")
                return
            if decision.action == STALL:
                self.stalled = True
                return
            if decision.action == ERROR:
                self._emit(api_key, version, correlation_id,
                           api.error_response(body, version, decision.error))
                return
            if decision.action == DELAY:
                delay_until = now + decision.seconds
            if decision.action == RESPOND:
                response = decision.response
                value = response(body, version) if callable(response) else response
                if value is not None:
                    self._emit(api_key, version, correlation_id, value)
                    return
            if decision.action == HOLD:
                self._hold(req, correlation_id)
                return
            if decision.action == LOSE:
                self._lose_next = True
        try:
            reply = api.handle(req)
        except Exception as exc:  # a bug in an API module must not take the caller down
            self.close(f"request could not be served: {exc!r}")
            return
        if isinstance(reply, Pending) or delay_until is not None:
            pending = reply if isinstance(reply, Pending) else _ready(reply, None)
            self._waiting = _Waiting(api_key, version, correlation_id, pending, delay_until)
            self.cluster.waiting[self.conn_id] = self
            self.poll(now)
            return
        self._emit(api_key, version, correlation_id, reply)

    def _hold(self, req: Request, correlation_id: int) -> None:
        """Park ``req`` in the cluster's ``faults.held`` until the test settles it."""
        box: list[Any] = []
        self._held_req = req
        held = HeldRequest(req.api_key, req.version, req.header, req.body, self.node_id,
                           req.now, self._settle_held, self.conn_id)
        self._held_box = box
        self._held = held
        self.quiet = None
        self.cluster.faults.held.append(held)
        self._waiting = _Waiting(req.api_key, req.version, correlation_id,
                                 Pending(lambda _now, _expired: box[0] if box else None, None),
                                 None)
        self.cluster.waiting[self.conn_id] = self

    def _settle_held(self, outcome: str, response: Any, now: float) -> None:
        held = self.cluster.faults.held
        if self._held in held:
            held.remove(self._held)
        w = self._waiting
        if self.closed or w is None:
            return
        if outcome == ANSWER:
            self._held_box.append(response)
        else:
            if outcome == LOSE:
                self._lose_next = True
            req = self._held_req
            req.now = now
            api = self.cluster.apis[req.api_key]
            try:
                reply = api.handle(req)
            except Exception as exc:  # as in _serve: close, never raise to the caller
                self.close(f"request could not be served: {exc!r}")
                return
            if outcome == APPLY:
                pass  # applied; the answer never comes
            elif isinstance(reply, Pending):
                w.pending = reply
            else:
                self._held_box.append(reply)
        self.cluster.wake(now)

    def _emit(self, api_key: int, version: int, correlation_id: int, reply: Any) -> None:
        if self._lose_next:
            self._lose_next = False
            if reply is not NO_RESPONSE and reply is not CLOSE:
                self.close(f"API {api_key}: answer lost by a fault hook")
                return
        if reply is NO_RESPONSE:
            return
        if reply is CLOSE:
            self.close(f"API {api_key}: the broker closes the connection")
            return
        try:
            self._out += protocol.encode_response(reply, version, correlation_id, api_key)
        except KprotoError as exc:
            self.close(f"API {api_key} v{version}: the answer could not be encoded: {exc}")
            return
        outbox = self.cluster.outbox
        if outbox is not None:
            outbox.add(self)
        if self._close_after_flush:
            self.close("closed after its last answer")

    def close_after_answer(self) -> None:
        """Close once the answer being built is written (a failed SASL authentication)."""
        self._close_after_flush = True

    client_id: str | None = None
    _held: HeldRequest | None = None
    _held_req: Request
    _held_box: list[Any]
