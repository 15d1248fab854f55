"""trio: a connection's receiver sends the request its answer queued (the next Fetch) itself
only when that cannot block -- a small request on a plain socket with room in its send
buffer -- so a receiver never stops reading to wait for a broker that waits for it."""

from __future__ import annotations

import socket

import trio
import trio.testing

from kproto_trio._loop import _DIRECT, _fits_now


def _stream(sock: socket.socket) -> trio.SocketStream:
    return trio.SocketStream(trio.socket.from_stdlib_socket(sock))


def test_a_small_request_on_a_socket_with_room_goes_at_once() -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        with a, b:
            stream = _stream(a)
            assert _fits_now(stream, bytearray(100))
            assert not _fits_now(stream, bytearray(_DIRECT + 1))  # big: the sender task's

    trio.run(main)


def test_a_full_send_buffer_leaves_it_to_the_sender_task() -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        with a, b:
            a.setblocking(False)
            try:
                while True:
                    a.send(b"x" * 65536)
            except BlockingIOError:
                pass  # nobody reads b: a's buffer is full
            assert not _fits_now(_stream(a), bytearray(100))

    trio.run(main)


def test_a_stream_that_is_not_a_plain_socket_is_left_to_the_sender_task() -> None:
    async def main() -> None:
        left, _ = trio.testing.memory_stream_pair()
        assert not _fits_now(left, bytearray(100))

    trio.run(main)
