"""The trace of one simulation run: every delivery, fault and event, with simulated time.

Entries are ``(time, who, what)`` tuples of plain strings and floats, so two runs of the
same seed compare equal entry by entry, and ``format`` prints them one a line. Frames are
named by API (``Produce v9 #12``) by a small parser per direction of each connection that
reads only the size and the header, never the body. A delivery's entry is written when the
trace is read (``entries``), not when the bytes pass: most runs are never read, and naming
every frame was a tenth of the simulator's own time. The parsers then see the chunks in the
order they passed, so the words are the same.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from kproto.protocol.apis import API_SPECS

__all__ = ["FrameNamer", "Trace"]

_SIZE = struct.Struct(">i")
_REQ = struct.Struct(">ihhi")


class Trace:
    """An append-only list of ``(time, who, what)``; see the module docstring."""

    def __init__(self, limit: int = 200_000) -> None:
        self._entries: list[tuple[float, str, Any]] = []
        self._written = 0
        """Entries before this index are all plain strings."""
        self.limit = limit
        self.dropped = 0

    @property
    def entries(self) -> list[tuple[float, str, str]]:
        """Every entry kept, in order (deliveries' words written now, once)."""
        entries = self._entries
        for i in range(self._written, len(entries)):
            time, who, what = entries[i]
            if not isinstance(what, str):
                arrow, namer, data = what
                entries[i] = (time, who, f"{arrow} {namer.feed(data)} ({len(data)} B)")
        self._written = len(entries)
        return entries

    @entries.setter
    def entries(self, value: list[tuple[float, str, str]]) -> None:
        self._entries = list(value)
        self._written = len(self._entries)

    def add(self, time: float, who: str, what: str) -> None:
        if len(self._entries) < self.limit:
            self._entries.append((time, who, what))
        else:
            self.dropped += 1

    def add_delivery(self, time: float, who: str, arrow: str, namer: FrameNamer,
                     data: bytes) -> None:
        """``who`` got the chunk ``data`` (``arrow``: its direction), its frames named by
        ``namer`` when the trace is read."""
        if len(self._entries) < self.limit:
            self._entries.append((time, who, (arrow, namer, data)))
        else:
            self.dropped += 1

    def format(self, last: int | None = None, kinds: Iterable[str] | None = None) -> str:
        """The trace one entry a line (the last ``last`` entries; only ``who`` in
        ``kinds`` when given)."""
        chosen = self.entries
        if kinds is not None:
            wanted = tuple(kinds)
            chosen = [e for e in chosen if e[1].startswith(wanted)]
        if last is not None:
            chosen = chosen[-last:]
        lines = [f"{t:10.4f}  {who:<14} {what}" for t, who, what in chosen]
        if self.dropped:
            lines.append(f"... {self.dropped} later entries not kept")
        return "\n".join(lines)


def api_name(key: int) -> str:
    spec = API_SPECS.get(key)
    return spec.name if spec is not None else f"api{key}"


class FrameNamer:
    """Names the frames of one TCP stream as its chunks pass (requests or responses)."""

    __slots__ = ("buf", "requests", "sent")

    def __init__(self, requests: bool, sent: dict[int, str] | None = None) -> None:
        self.buf = bytearray()
        self.requests = requests
        self.sent: dict[int, str] = sent if sent is not None else {}
        """correlation id -> API name, shared by a connection's two directions."""

    def feed(self, data: bytes) -> str:
        """What complete frames this chunk ends (``Produce v9 #3, Fetch v12 #4``)."""
        buf = self.buf
        buf += data
        names: list[str] = []
        pos = 0
        while len(buf) - pos >= 4:
            (size,) = _SIZE.unpack_from(buf, pos)
            if size < 0 or len(buf) - pos - 4 < size:
                break
            if self.requests and size >= 8:
                _, key, version, corr = _REQ.unpack_from(buf, pos)
                name = f"{api_name(key)} v{version} #{corr}"
                self.sent[corr] = name
                names.append(name)
            elif size >= 4:
                (corr,) = _SIZE.unpack_from(buf, pos + 4)
                names.append(f"answer to {self.sent.pop(corr, f'#{corr}')}")
            pos += 4 + size
        del buf[:pos]
        if not names:
            return "part of a frame"
        return ", ".join(names)
