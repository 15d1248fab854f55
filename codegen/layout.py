"""Line breaking for the generated code, so that it is written already formatted.

The generator produces each statement on one line; ``reflow`` breaks the few shapes it emits
that can exceed 100 columns the way the project's formatter style does (black-compatible):
split a call's arguments onto one indented line (or one per line with a trailing comma),
explode a tuple target, or wrap a right-hand side in parentheses. The output depends on
nothing but the input text, so generation stays deterministic whatever formatter is installed.
"""

from __future__ import annotations

LIMIT = 100
_OPEN = "([{"
_CLOSE = ")]}"


def _depths(text: str) -> list[int]:
    """Bracket depth before each character, ignoring brackets inside string literals."""
    out = []
    depth = 0
    quote = ""
    i = 0
    while i < len(text):
        c = text[i]
        out.append(depth)
        if quote:
            if c == "\\":
                out.append(depth)
                i += 2
                continue
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
        i += 1
    return out[: len(text)]


def split_top(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` where it is not nested in brackets or strings."""
    depths = _depths(text)
    parts = []
    start = 0
    i = 0
    while i <= len(text) - len(sep):
        if depths[i] == 0 and text.startswith(sep, i) and _outside_string(text, i):
            parts.append(text[start:i])
            start = i + len(sep)
            i = start
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _outside_string(text: str, index: int) -> bool:
    quote = ""
    i = 0
    while i < index:
        c = text[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        i += 1
    return not quote


def _last_call(text: str) -> tuple[str, str, str] | None:
    """``f(a, b)`` at the end of ``text`` -> (head including "(", args, tail from ")")."""
    if not text.endswith((")", "):")):
        return None
    end = text.rindex(")")
    depths = _depths(text)
    target = depths[end] - 1
    for i in range(end - 1, -1, -1):
        if text[i] == "(" and depths[i] == target and _outside_string(text, i):
            if i == 0 or not (text[i - 1].isalnum() or text[i - 1] in "_."):
                return None
            return text[: i + 1], text[i + 1 : end], text[end:]
    return None


def _explode(indent: str, head: str, items: list[str], tail: str) -> list[str]:
    inner = indent + "    "
    return [indent + head, *[f"{inner}{item}," for item in items], indent + tail]


def split_call(indent: str, head: str, args: str, tail: str) -> list[str]:
    """``head(args)tail`` over several lines: args on one line if they fit, else one each."""
    inner = indent + "    "
    if len(inner + args) <= LIMIT and not args.endswith(","):
        return [indent + head, inner + args, indent + tail]
    return _explode(indent, head, [a.strip() for a in split_top(args, ",") if a.strip()], tail)


def reflow(line: str) -> list[str]:
    """Break one generated line that is longer than the limit; shorter lines pass through."""
    if len(line) <= LIMIT:
        return [line]
    indent = line[: len(line) - len(line.lstrip(" "))]
    stmt = line.strip()
    if stmt.startswith(("def ", "class ")):
        call = _last_call(stmt.rsplit(" -> ", 1)[0]) if " -> " in stmt else _last_call(stmt)
        if call is not None:
            head, args, tail = call
            tail = stmt[len(head) + len(args) :]
            return split_call(indent, head, args, tail)
        return [line]
    for op in (" += ", " = "):
        parts = split_top(stmt, op)
        if len(parts) == 2:
            lhs, rhs = parts
            return _reflow_assignment(indent, lhs, op, rhs)
    call = _last_call(stmt)
    if call is not None:
        head, args, tail = call
        if len(indent + head) <= LIMIT:
            return split_call(indent, head, args, tail)
    return [line]


def _reflow_assignment(indent: str, lhs: str, op: str, rhs: str) -> list[str]:
    call = _last_call(rhs)
    if call is not None:
        head, args, tail = call
        first = f"{lhs}{op}{head}"
        if len(indent + first) <= LIMIT:
            return split_call(indent, first, args, tail)
    targets = split_top(lhs, ", ")
    if len(targets) > 1:
        return _explode(indent, "(", targets, f"){op}{rhs}")
    inner = indent + "    "
    if len(inner + rhs) <= LIMIT:
        return [f"{indent}{lhs}{op}(", inner + rhs, indent + ")"]
    return [indent + lhs + op + rhs]


def reflow_all(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        out += reflow(line)
    return out
