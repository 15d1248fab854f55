"""A tiny blocking Kafka client for tests: one socket, one request at a time.

It exercises kproto's codec and framing against a real broker without the rest of the client:
``encode_request`` a message, send the frame, read one response frame, check its correlation
id and ``decode_response`` it. ``exchange`` also returns the raw frame (for golden captures).
"""

from __future__ import annotations

import socket
import struct
from types import TracebackType

from kproto.protocol import (
    ApiVersionsRequest,
    ApiVersionsResponse,
    Message,
    decode_response,
    encode_request,
    peek_correlation_id,
)

_SIZE = struct.Struct(">i")
MAX_FRAME = 100 * 1024 * 1024
UNSUPPORTED_VERSION = 35


class RawClient:
    def __init__(self, address: str, client_id: str = "kproto-rawclient", timeout: float = 30.0):
        host, _, port = address.split(",")[0].strip().rpartition(":")
        self.client_id = client_id
        self.sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.next_correlation_id = 1

    def __enter__(self) -> RawClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def _read_exactly(self, n: int) -> bytes:
        chunks = []
        while n:
            chunk = self.sock.recv(min(n, 1 << 20))
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def read_frame(self) -> bytes:
        (size,) = _SIZE.unpack(self._read_exactly(4))
        if not 0 <= size <= MAX_FRAME:
            raise ConnectionError(f"bad frame size {size}")
        return self._read_exactly(size)

    def exchange(self, request: Message, version: int) -> tuple[int, bytes, object]:
        """Send ``request`` at ``version``: (correlation id, raw response frame, response)."""
        correlation_id = self.next_correlation_id
        self.next_correlation_id += 1
        self.sock.sendall(encode_request(request, version, correlation_id, self.client_id))
        frame = self.read_frame()
        got = peek_correlation_id(frame)
        if got != correlation_id:
            raise ConnectionError(f"correlation id {got}, expected {correlation_id}")
        _, response = decode_response(frame, request.API_KEY, version)
        return correlation_id, frame, response

    def request(self, request: Message, version: int) -> object:
        return self.exchange(request, version)[2]

    def api_versions(self) -> dict[int, tuple[int, int]]:
        """The broker's supported versions per API key (asks with v3, falls back to v0)."""
        response = self.request(
            ApiVersionsRequest(client_software_name="kproto-tests", client_software_version="0"),
            3,
        )
        assert isinstance(response, ApiVersionsResponse)
        if response.error_code == UNSUPPORTED_VERSION:
            response = self.request(ApiVersionsRequest(), 0)
            assert isinstance(response, ApiVersionsResponse)
        if response.error_code:
            raise ConnectionError(f"ApiVersions failed with error code {response.error_code}")
        return {k.api_key: (k.min_version, k.max_version) for k in response.api_keys}
