"""A few Kafka requests encoded by hand, so the harness can probe brokers without kproto.

The harness must keep working while kproto itself is broken, so it speaks the handful of
requests it needs (ApiVersions, Metadata, CreateTopics, DeleteTopics, SaslHandshake,
SaslAuthenticate, with PLAIN and SCRAM logins) with ``struct``. Only non-flexible versions
accepted by both 3.9 and 4.x brokers are used: ApiVersions v0, Metadata v4, CreateTopics v4,
DeleteTopics v3, SaslHandshake v1, SaslAuthenticate v0.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import ssl
import struct
from dataclasses import dataclass, field

API_METADATA = 3
API_SASL_HANDSHAKE = 17
API_API_VERSIONS = 18
API_CREATE_TOPICS = 19
API_DELETE_TOPICS = 20
API_SASL_AUTHENTICATE = 36

# Error codes the harness reacts to (the full table lives in kproto.errors).
NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
LEADER_NOT_AVAILABLE = 5
NOT_CONTROLLER = 41
TOPIC_ALREADY_EXISTS = 36
UNSUPPORTED_SASL_MECHANISM = 33
SASL_AUTHENTICATION_FAILED = 58

MAX_FRAME = 64 * 1024 * 1024


class WireError(Exception):
    """A probe got bytes it could not parse, or the connection ended mid-frame."""


class Reader:
    """Cursor over a response body; every read is bounds-checked."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise WireError(f"response truncated at byte {self.pos} (wanted {n})")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def int8(self) -> int:
        return struct.unpack(">b", self.take(1))[0]

    def int16(self) -> int:
        return struct.unpack(">h", self.take(2))[0]

    def int32(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def int64(self) -> int:
        return struct.unpack(">q", self.take(8))[0]

    def string(self) -> str | None:
        n = self.int16()
        return None if n < 0 else self.take(n).decode()

    def bytes_(self) -> bytes | None:
        n = self.int32()
        return None if n < 0 else self.take(n)

    def count(self) -> int:
        n = self.int32()
        if n > len(self.data) - self.pos:
            raise WireError(f"array length {n} exceeds the remaining response")
        return max(n, 0)


def s16(value: str | None) -> bytes:
    if value is None:
        return struct.pack(">h", -1)
    raw = value.encode()
    return struct.pack(">h", len(raw)) + raw


def b32(value: bytes | None) -> bytes:
    if value is None:
        return struct.pack(">i", -1)
    return struct.pack(">i", len(value)) + value


def array(items: list[bytes] | None) -> bytes:
    if items is None:
        return struct.pack(">i", -1)
    return struct.pack(">i", len(items)) + b"".join(items)


class Conn:
    """One blocking connection; requests are sent one at a time."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        client_id: str = "kproto-harness",
    ) -> None:
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if ssl_context is not None:
                sock = ssl_context.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        self.sock: socket.socket = sock
        self.client_id = client_id
        self.correlation_id = 0

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def settimeout(self, timeout: float | None) -> None:
        self.sock.settimeout(timeout)

    def send(self, api_key: int, version: int, body: bytes) -> int:
        self.correlation_id += 1
        header = struct.pack(">hhi", api_key, version, self.correlation_id) + s16(self.client_id)
        frame = header + body
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)
        return self.correlation_id

    def _read_exactly(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
            buf += chunk
        return bytes(buf)

    def receive(self, correlation_id: int) -> Reader:
        (size,) = struct.unpack(">i", self._read_exactly(4))
        if not 4 <= size <= MAX_FRAME:
            raise WireError(f"implausible response size {size}")
        frame = self._read_exactly(size)
        (got,) = struct.unpack(">i", frame[:4])
        if got != correlation_id:
            raise WireError(f"correlation id {got}, expected {correlation_id}")
        return Reader(frame[4:])

    def request(self, api_key: int, version: int, body: bytes) -> Reader:
        return self.receive(self.send(api_key, version, body))

    # -- the requests ----------------------------------------------------------------------

    def api_versions(self) -> ApiVersions:
        r = self.request(API_API_VERSIONS, 0, b"")
        error = r.int16()
        ranges = {}
        for _ in range(r.count()):
            key, lo, hi = r.int16(), r.int16(), r.int16()
            ranges[key] = (lo, hi)
        return ApiVersions(error, ranges)

    def metadata(self, topics: list[str] | None = None, auto_create: bool = False) -> Metadata:
        body = array(None if topics is None else [s16(t) for t in topics])
        body += struct.pack(">b", 1 if auto_create else 0)
        r = self.request(API_METADATA, 4, body)
        r.int32()  # throttle_time_ms
        brokers = {}
        for _ in range(r.count()):
            node_id, host, port = r.int32(), r.string() or "", r.int32()
            r.string()  # rack
            brokers[node_id] = (host, port)
        cluster_id = r.string()
        controller_id = r.int32()
        topic_list = {}
        for _ in range(r.count()):
            error, name = r.int16(), r.string() or ""
            r.int8()  # is_internal
            partitions = {}
            for _ in range(r.count()):
                p_error, index, leader = r.int16(), r.int32(), r.int32()
                replicas = [r.int32() for _ in range(r.count())]
                isr = [r.int32() for _ in range(r.count())]
                partitions[index] = PartitionInfo(p_error, leader, replicas, isr)
            topic_list[name] = TopicInfo(error, partitions)
        return Metadata(brokers, cluster_id, controller_id, topic_list)

    def create_topics(
        self,
        topics: list[tuple[str, int, int, dict[str, str]]],
        timeout_ms: int = 30000,
    ) -> dict[str, tuple[int, str | None]]:
        """CreateTopics v4 for (name, partitions, replication factor, configs)."""
        entries = []
        for name, partitions, rf, configs in topics:
            cfg = [s16(k) + s16(v) for k, v in configs.items()]
            entries.append(s16(name) + struct.pack(">ih", partitions, rf) + array([]) + array(cfg))
        body = array(entries) + struct.pack(">ib", timeout_ms, 0)
        r = self.request(API_CREATE_TOPICS, 4, body)
        r.int32()
        out = {}
        for _ in range(r.count()):
            name, error, message = r.string() or "", r.int16(), r.string()
            out[name] = (error, message)
        return out

    def delete_topics(self, names: list[str], timeout_ms: int = 30000) -> dict[str, int]:
        """DeleteTopics v3."""
        body = array([s16(n) for n in names]) + struct.pack(">i", timeout_ms)
        r = self.request(API_DELETE_TOPICS, 3, body)
        r.int32()
        out = {}
        for _ in range(r.count()):
            name, error = r.string() or "", r.int16()
            out[name] = error
        return out

    def sasl_handshake(self, mechanism: str) -> tuple[int, list[str]]:
        """SaslHandshake v1: error code and the broker's enabled mechanisms."""
        r = self.request(API_SASL_HANDSHAKE, 1, s16(mechanism))
        error = r.int16()
        return error, [r.string() or "" for _ in range(r.count())]

    def sasl_authenticate(self, auth_bytes: bytes) -> tuple[int, str | None, bytes]:
        """SaslAuthenticate v0: error code, message and the server's bytes."""
        r = self.request(API_SASL_AUTHENTICATE, 0, b32(auth_bytes))
        error, message = r.int16(), r.string()
        return error, message, r.bytes_() or b""

    def sasl_scram(self, mechanism: str, user: str, password: str) -> tuple[int, str | None]:
        """Handshake plus a full SCRAM exchange (RFC 5802), checking the server's signature."""
        digest = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}[mechanism]
        error, mechanisms = self.sasl_handshake(mechanism)
        if error:
            return error, f"handshake refused; broker offers {mechanisms}"
        nonce = base64.b64encode(os.urandom(18)).decode()
        client_first_bare = f"n={user},r={nonce}"
        error, message, server_first = self.sasl_authenticate(b"n,," + client_first_bare.encode())
        if error:
            return error, message
        fields = dict(item.split("=", 1) for item in server_first.decode().split(","))
        if not fields.get("r", "").startswith(nonce):
            raise WireError(f"server nonce does not extend ours: {server_first!r}")
        salted = hashlib.pbkdf2_hmac(digest, password.encode(), base64.b64decode(fields["s"]), int(fields["i"]))
        client_key = hmac.new(salted, b"Client Key", digest).digest()
        stored_key = hashlib.new(digest, client_key).digest()
        client_final_bare = f"c=biws,r={fields['r']}"
        auth_message = f"{client_first_bare},{server_first.decode()},{client_final_bare}".encode()
        signature = hmac.new(stored_key, auth_message, digest).digest()
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature, strict=True))).decode()
        error, message, server_final = self.sasl_authenticate(f"{client_final_bare},p={proof}".encode())
        if error:
            return error, message
        server_key = hmac.new(salted, b"Server Key", digest).digest()
        expected = base64.b64encode(hmac.new(server_key, auth_message, digest).digest()).decode()
        if server_final.decode() != f"v={expected}":
            raise WireError(f"server signature mismatch: {server_final!r}")
        return NONE, None

    def sasl_plain(self, user: str, password: str) -> tuple[int, str | None]:
        """Handshake plus one PLAIN authenticate round; returns (error code, message)."""
        error, mechanisms = self.sasl_handshake("PLAIN")
        if error:
            return error, f"handshake refused; broker offers {mechanisms}"
        token = b"\0" + user.encode() + b"\0" + password.encode()
        error, message, _ = self.sasl_authenticate(token)
        return error, message


@dataclass(frozen=True, slots=True)
class ApiVersions:
    error_code: int
    ranges: dict[int, tuple[int, int]]


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    error_code: int
    leader: int
    replicas: list[int]
    isr: list[int]


@dataclass(frozen=True, slots=True)
class TopicInfo:
    error_code: int
    partitions: dict[int, PartitionInfo]


@dataclass(frozen=True, slots=True)
class Metadata:
    brokers: dict[int, tuple[str, int]]
    cluster_id: str | None
    controller_id: int
    topics: dict[str, TopicInfo] = field(default_factory=dict)


def api_versions(
    host: str, port: int, *, timeout: float = 5.0, ssl_context: ssl.SSLContext | None = None
) -> ApiVersions:
    with Conn(host, port, timeout=timeout, ssl_context=ssl_context) as conn:
        return conn.api_versions()


def metadata(host: str, port: int, topics: list[str] | None = None, *, timeout: float = 5.0) -> Metadata:
    with Conn(host, port, timeout=timeout) as conn:
        return conn.metadata(topics)
