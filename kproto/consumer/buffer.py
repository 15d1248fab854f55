# Theory of operation: a MessageBuffer holds what the fetcher delivered for one partition
# and a reader has not taken yet: RecordsFetched chunks, in order, plus a cursor into the
# chunk being read. Inputs: `push` (a chunk arrived), `take` (the reader wants a message),
# `take_chunk` (a batch reader wants the rest of a chunk), `clear` (the reader is gone).
# Output of `take`: the next message and, when it was the
# last of its chunk, that chunk's size, which the adapter hands to `Fetcher.release` so the
# partition's buffer bound counts whole chunks. Adapters read the cursor (`cur`, `idx`)
# directly on their fast path: a message that is not the last of its chunk needs no call.
"""Per-partition buffering of fetched messages for the adapters' streams."""

from __future__ import annotations

from collections import deque

from kproto.message_types import ConsumerMessage

__all__ = ["MessageBuffer"]


class MessageBuffer:
    """Delivered chunks of one partition and a read cursor; not thread-safe on its own
    (one reader at a time; ``push`` may come from another thread: it only appends)."""

    __slots__ = ("chunks", "cur", "cur_size", "idx")

    def __init__(self) -> None:
        self.chunks: deque[tuple[tuple[ConsumerMessage, ...], int]] = deque()
        self.cur: tuple[ConsumerMessage, ...] = ()
        """The chunk being read; ``cur[idx]`` is the next message."""
        self.cur_size = 0
        self.idx = 0

    def push(self, messages: tuple[ConsumerMessage, ...], size: int) -> None:
        if messages:
            self.chunks.append((messages, size))

    def take(self) -> tuple[ConsumerMessage, int] | None:
        """The next message and the bytes to release (0 unless it ended its chunk), or
        None when nothing is buffered."""
        cur = self.cur
        i = self.idx
        if i >= len(cur):
            if not self.chunks:
                return None
            cur, self.cur_size = self.chunks.popleft()
            self.cur = cur
            i = 0
        if i + 1 < len(cur):
            self.idx = i + 1
            return cur[i], 0
        size = self.cur_size
        self.cur = ()
        self.idx = 0
        self.cur_size = 0
        return cur[i], size

    def take_chunk(self) -> tuple[tuple[ConsumerMessage, ...], int] | None:
        """What is left of the chunk being read, else the next whole chunk, and the bytes to
        release; None when nothing is buffered. A whole chunk is handed out as delivered
        (the fetcher's tuple, no copy)."""
        cur = self.cur
        if cur:
            i = self.idx
            size = self.cur_size
            self.cur = ()
            self.idx = 0
            self.cur_size = 0
            return (cur[i:] if i else cur), size
        if not self.chunks:
            return None
        return self.chunks.popleft()

    def clear(self) -> None:
        self.chunks.clear()
        self.cur = ()
        self.idx = 0
        self.cur_size = 0

    def __len__(self) -> int:
        """Messages not taken yet."""
        return len(self.cur) - self.idx + sum(len(m) for m, _ in self.chunks)
