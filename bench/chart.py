"""A bar chart as a PNG with nothing but zlib and struct: matplotlib is not a dependency, and
the chart needs only bars and short upper-case labels (a 5x7 pixel font, drawn at 2x).

``bar_chart(groups, path)`` draws, per group (a scenario), one horizontal bar per client,
scaled to the group's largest value, labelled with the client and the value.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

# 5x7 glyphs, one int per row, the leftmost pixel the 0x10 bit.
FONT: dict[str, tuple[int, ...]] = {
    "A": (14, 17, 17, 31, 17, 17, 17), "B": (30, 17, 17, 30, 17, 17, 30),
    "C": (14, 17, 16, 16, 16, 17, 14), "D": (30, 17, 17, 17, 17, 17, 30),
    "E": (31, 16, 16, 30, 16, 16, 31), "F": (31, 16, 16, 30, 16, 16, 16),
    "G": (14, 17, 16, 23, 17, 17, 15), "H": (17, 17, 17, 31, 17, 17, 17),
    "I": (14, 4, 4, 4, 4, 4, 14), "J": (7, 2, 2, 2, 2, 18, 12),
    "K": (17, 18, 20, 24, 20, 18, 17), "L": (16, 16, 16, 16, 16, 16, 31),
    "M": (17, 27, 21, 21, 17, 17, 17), "N": (17, 17, 25, 21, 19, 17, 17),
    "O": (14, 17, 17, 17, 17, 17, 14), "P": (30, 17, 17, 30, 16, 16, 16),
    "Q": (14, 17, 17, 17, 21, 18, 13), "R": (30, 17, 17, 30, 20, 18, 17),
    "S": (15, 16, 16, 14, 1, 1, 30), "T": (31, 4, 4, 4, 4, 4, 4),
    "U": (17, 17, 17, 17, 17, 17, 14), "V": (17, 17, 17, 17, 17, 10, 4),
    "W": (17, 17, 17, 21, 21, 21, 10), "X": (17, 17, 10, 4, 10, 17, 17),
    "Y": (17, 17, 10, 4, 4, 4, 4), "Z": (31, 1, 2, 4, 8, 16, 31),
    "0": (14, 17, 19, 21, 25, 17, 14), "1": (4, 12, 4, 4, 4, 4, 14),
    "2": (14, 17, 1, 2, 4, 8, 31), "3": (31, 2, 4, 2, 1, 17, 14),
    "4": (2, 6, 10, 18, 31, 2, 2), "5": (31, 16, 30, 1, 1, 17, 14),
    "6": (6, 8, 16, 30, 17, 17, 14), "7": (31, 1, 2, 4, 8, 8, 8),
    "8": (14, 17, 17, 14, 17, 17, 14), "9": (14, 17, 17, 15, 1, 2, 12),
    "-": (0, 0, 0, 31, 0, 0, 0), ".": (0, 0, 0, 0, 0, 12, 12),
    "/": (0, 1, 2, 4, 8, 16, 0), ",": (0, 0, 0, 0, 12, 4, 8),
    ":": (0, 12, 12, 0, 12, 12, 0), "(": (2, 4, 8, 8, 8, 4, 2),
    ")": (8, 4, 2, 2, 2, 4, 8), " ": (0, 0, 0, 0, 0, 0, 0),
}
SCALE = 2
CHAR_W, CHAR_H = 6 * SCALE, 8 * SCALE
PALETTE = [(31, 119, 180), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (255, 127, 14)]
Color = tuple[int, int, int]


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.w, self.h = width, height
        self.px = bytearray(b"\xff" * (width * height * 3))

    def rect(self, x: int, y: int, w: int, h: int, color: Color) -> None:
        row = bytes(color) * max(0, min(w, self.w - x))
        for yy in range(max(0, y), min(self.h, y + h)):
            start = (yy * self.w + x) * 3
            self.px[start:start + len(row)] = row

    def text(self, x: int, y: int, s: str, color: Color = (0, 0, 0)) -> None:
        for ch in s.upper():
            for r, bits in enumerate(FONT.get(ch, FONT["."])):
                for c in range(5):
                    if bits & (16 >> c):
                        self.rect(x + c * SCALE, y + r * SCALE, SCALE, SCALE, color)
            x += CHAR_W

    def png(self) -> bytes:
        raw = b"".join(b"\x00" + bytes(self.px[y * self.w * 3:(y + 1) * self.w * 3])
                       for y in range(self.h))

        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        header = struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def human(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M/S"
    return f"{value / 1e3:.0f}K/S" if value >= 1e3 else f"{value:.0f}/S"


def bar_chart(title: str, groups: dict[str, dict[str, float]], path: Path) -> None:
    """One block per group, one bar per (client, value); colours follow the client."""
    clients = sorted({c for bars in groups.values() for c in bars},
                     key=lambda c: (not c.startswith("kproto"), c))
    colors = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(clients)}
    label_w = max((len(c) for c in clients), default=10) * CHAR_W + 16
    bar_max, bar_h, gap = 560, CHAR_H + 4, 10
    width = label_w + bar_max + 12 * CHAR_W
    height = 2 * CHAR_H + sum(CHAR_H + 6 + len(bars) * bar_h + gap for bars in groups.values())
    canvas = Canvas(width, height + 8)
    canvas.text(8, 8, title)
    y = 8 + 2 * CHAR_H
    for name, bars in groups.items():
        canvas.text(8, y, name, (60, 60, 60))
        y += CHAR_H + 6
        top = max(bars.values(), default=1.0) or 1.0
        for client in sorted(bars, key=clients.index):
            value = bars[client]
            canvas.text(16, y + 2, client, colors[client])
            length = max(1, int(bar_max * value / top))
            canvas.rect(label_w, y, length, bar_h - 3, colors[client])
            canvas.text(label_w + length + 6, y + 2, human(value))
            y += bar_h
        y += gap
    path.write_bytes(canvas.png())
