"""Hypothesis strategies for every generated message, derived from the parsed specs.

For a message at a version, every field present at that version gets a value of its type:
None where the field is nullable at that version, tagged fields often left at their default
(so both the written and the omitted forms occur), unknown tagged fields in flexible versions,
and arrays that are empty, short, or (for arrays of numbers) long. Fields absent at the version
keep their defaults, which is what decoding gives back.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType
from typing import Any

from hypothesis import strategies as st

import codegen
from codegen.model import Field, FieldType, Message, Struct

_INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
}


@cache
def specs() -> dict[str, Message]:
    return {m.name: m for m in codegen.load()}


def module_of(spec: Message) -> ModuleType:
    return importlib.import_module(f"kproto.protocol.messages.{spec.module}")


def all_message_versions() -> list[tuple[str, int]]:
    return [(name, v) for name, spec in sorted(specs().items()) for v in spec.valid]


def _scalar(kind: str) -> st.SearchStrategy[Any]:
    if kind in _INT_RANGES:
        lo, hi = _INT_RANGES[kind]
        return st.one_of(st.integers(lo, hi), st.sampled_from([lo, hi, 0, -1 if lo < 0 else 1]))
    if kind == "bool":
        return st.booleans()
    if kind == "float64":
        return st.floats(allow_nan=False)
    if kind == "string":
        return st.text(max_size=12)
    if kind in ("bytes", "records"):
        return st.binary(max_size=24)
    if kind == "uuid":
        return st.one_of(st.uuids(), st.just(__import__("uuid").UUID(int=0)))
    raise ValueError(kind)


class Strategies:
    """Strategies for one message spec at one version."""

    def __init__(self, spec: Message, version: int) -> None:
        self.spec = spec
        self.version = version
        self.module = module_of(spec)
        self.flexible = version in spec.flexible

    def message(self) -> st.SearchStrategy[Any]:
        return self.struct(self.spec.struct)

    def struct(self, s: Struct) -> st.SearchStrategy[Any]:
        cls = getattr(self.module, s.name)
        kwargs: dict[str, st.SearchStrategy[Any]] = {}
        for f in s.fields:
            if f.is_regular(self.version):
                kwargs[f.attr] = self.field(f, f.type)
            elif f.is_tagged(self.version):
                kwargs[f.attr] = st.one_of(
                    st.builds(self.default_of, st.just(f)), self.field(f, f.type)
                )
        if self.flexible:
            kwargs["unknown_tagged_fields"] = self.unknown_tags(s)
        return st.builds(cls, **kwargs)

    def default_of(self, f: Field) -> Any:
        value = f.default_value()
        if value is ...:
            assert f.struct is not None
            return getattr(self.module, f.struct.name)()
        if isinstance(value, list):
            return []
        return value

    def field(self, f: Field, t: FieldType) -> st.SearchStrategy[Any]:
        base = self.value(f, t)
        if f.nullable_at(self.version):
            return st.one_of(st.none(), base)
        return base

    def value(self, f: Field, t: FieldType) -> st.SearchStrategy[Any]:
        if t.kind == "struct":
            assert f.struct is not None
            return st.deferred(lambda: self.struct(f.struct))  # type: ignore[arg-type]
        if t.kind == "array":
            assert t.element is not None
            el = t.element
            if el.kind == "struct":
                assert f.struct is not None
                elem = self.struct(f.struct)
                return st.lists(elem, max_size=3)
            elem = _scalar(el.kind)
            if el.kind in _INT_RANGES:
                return st.one_of(
                    st.lists(elem, max_size=4), st.lists(elem, min_size=100, max_size=300)
                )
            return st.lists(elem, max_size=4)
        return _scalar(t.kind)

    def unknown_tags(self, s: Struct) -> st.SearchStrategy[list[tuple[int, bytes]]]:
        known = s.known_tags()
        tag = st.one_of(st.integers(0, 40), st.integers(0, 2**31 - 1)).filter(
            lambda t: t not in known
        )
        entries = st.lists(
            st.tuples(tag, st.binary(max_size=6)), max_size=3, unique_by=lambda e: e[0]
        )
        return entries.map(sorted)


@cache
def message_strategy(name: str, version: int) -> st.SearchStrategy[Any]:
    return Strategies(specs()[name], version).message()
