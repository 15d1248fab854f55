"""Fuzzing the client's connection framer: the size-prefixed response stream into a
``BrokerConnection``, cut into chunks at points the input chooses.

Input: one mode byte (bit 0-1: no SASL, SASL PLAIN, SASL SCRAM-SHA-256), two bytes seeding
where the stream is cut, then the bytes the broker sends. The connection is opened as the
engine opens one (ApiVersions, then SASL, then three queued Metadata requests), with a
seeded RNG so that a SCRAM exchange captured from the real broker replays (see
fuzz/capture_corpus.py, which drives this very connection over a socket).

What must hold, whatever the bytes:
- ``receive`` raises nothing; a connection that fails closes with a ``KprotoError``;
- a frame larger than ``max_frame_size`` closes it with a DecodeError naming the cap, and the
  read buffer never holds more than one incomplete frame of at most the cap (nothing is
  allocated for an oversized frame);
- a response whose correlation id does not match the oldest request in flight closes it;
- every request completes exactly once, in the order sent; once closed, all have completed.

    python fuzz/fuzz_framer.py --seconds 600                  # atheris
    python fuzz/fuzz_framer.py --hypothesis --examples 5000   # without atheris
"""

from __future__ import annotations

import random
import sys
from typing import Any

from _harness import instrumented, run

with instrumented():
    from kproto import protocol
    from kproto.config import Config
    from kproto.engine.connection import BrokerConnection, BrokerMetrics, Request
    from kproto.engine.timers import Timers
    from kproto.errors import DecodeError, KprotoError
    from kproto.protocol.apis import METADATA

NAME = "framer"
MAX_FRAME = 64 * 1024
MODES = ("PLAINTEXT", "PLAIN", "SCRAM-SHA-256")
USER, PASSWORD = "alice", "alice-secret"
QUEUED = 3


def _config(mechanism: str) -> Config:
    small = {"max_frame_size": MAX_FRAME, "fetch_max_bytes": MAX_FRAME // 2}
    if mechanism == "PLAINTEXT":
        return Config(**small)
    return Config(**small, security_protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism,
                  sasl_username=USER, sasl_password=PASSWORD)


_CONFIGS = [_config(m) for m in MODES]


class Session:
    """One connection as the engine makes it, with the requests the target queues."""

    def __init__(self, mode: int) -> None:
        config = _CONFIGS[mode % len(MODES)]
        self.completed: list[int] = []
        self.closed_with: KprotoError | None = None
        self.ready = 0
        self.conn = BrokerConnection(
            1, 1, "fuzz.invalid", 9092, config, random.Random(0), Timers(), BrokerMetrics(),
            0.0, self._on_ready, self._on_closed)
        self.requests = [
            Request(METADATA, lambda v: protocol.MetadataRequest(topics=[]),
                    self._done_callback(i), 1000.0)
            for i in range(QUEUED)
        ]
        for req in self.requests:
            self.conn.submit(req, 0.0)
        self.conn.made(0.0)

    def _on_ready(self, conn: BrokerConnection) -> None:
        self.ready += 1

    def _on_closed(self, conn: BrokerConnection, error: KprotoError) -> None:
        if self.closed_with is not None:
            raise AssertionError("closed twice")
        self.closed_with = error

    def _done_callback(self, index: int) -> Any:
        def done(response: Any, error: BaseException | None) -> None:
            if index in self.completed:
                raise AssertionError(f"request {index} completed twice")
            if (response is None) == (error is None):
                raise AssertionError(f"request {index}: response {response!r}, error {error!r}")
            if error is not None and not isinstance(error, KprotoError):
                raise AssertionError(f"request {index} failed with {error!r}")
            self.completed.append(index)

        return done

    def feed(self, chunk: bytes, now: float) -> None:
        self.conn.receive(chunk, now)
        self.check()

    def check(self) -> None:
        conn = self.conn
        if self.completed != sorted(self.completed):
            raise AssertionError(f"requests completed out of order: {self.completed}")
        if conn.state == conn.CLOSED:
            if not isinstance(conn.error, KprotoError) or self.closed_with is not conn.error:
                raise AssertionError(f"closed without a KprotoError: {conn.error!r}")
            if sorted(self.completed) != list(range(QUEUED)):
                raise AssertionError(f"closed, but only {self.completed} completed")
        elif len(conn._rbuf) >= 4 + MAX_FRAME:
            raise AssertionError(f"{len(conn._rbuf)} bytes buffered, over the frame cap")


def chunks(stream: bytes, seed: int) -> list[bytes]:
    """``stream`` cut at points drawn from ``seed`` (0: one piece; 1: byte by byte)."""
    if seed == 0:
        return [stream]
    if seed == 1:
        return [stream[i:i + 1] for i in range(len(stream))]
    rng = random.Random(seed)
    out, pos = [], 0
    while pos < len(stream):
        step = rng.choice((1, 2, 3, 4, 5, 7, 64, 1000))
        out.append(stream[pos:pos + step])
        pos += step
    return out


def one_input(data: bytes) -> None:
    if len(data) < 3:
        return
    session = Session(data[0])
    stream = data[3:]
    for chunk in chunks(stream, int.from_bytes(data[1:3], "big")):
        session.feed(chunk, 1.0)
        if session.conn.state == session.conn.CLOSED:
            break
    error = session.closed_with
    if error is not None and "max_frame_size" in str(error) and not isinstance(error, DecodeError):
        raise AssertionError(f"oversized frame refused with {error!r}")


def _frame(api_key: int, version: int, corr: int, msg: Any) -> bytes:
    return protocol.encode_response(msg, version, corr, api_key)


def seeds() -> list[bytes]:
    """Answers a broker could give, made with the codec, and the edge cases of the framer."""
    from kproto.testing.fake import FakeCluster

    answer = FakeCluster().api_versions_response()
    api_versions = _frame(18, protocol.API_SPECS[18].max_version, 0, answer)
    v = protocol.API_SPECS[METADATA].max_version
    metadata = b"".join(_frame(METADATA, v, 1 + i, protocol.MetadataResponse())
                        for i in range(QUEUED))
    good = api_versions + metadata
    return [
        b"\x00\x00\x00" + good,
        b"\x00\x00\x01" + good,
        b"\x00\x12\x34" + good,
        b"\x00\x00\x00" + api_versions + b"\x7f\xff\xff\xff",  # oversized frame
        b"\x00\x00\x00" + api_versions + (MAX_FRAME + 1).to_bytes(4, "big"),
        b"\x00\x00\x00" + api_versions + _frame(METADATA, v, 9, protocol.MetadataResponse()),
        b"\x00\x00\x00" + b"\xff\xff\xff\xff",  # negative size
        b"\x00\x00\x00\x16\x03\x01\x00\x05",  # a TLS record
    ]


if __name__ == "__main__":
    run(NAME, one_input, seeds, __doc__ or "")
    sys.exit(0)
