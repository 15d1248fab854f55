"""The message specs as Python objects: versions, field types, fields, structs and messages.

Parsing follows the rules of Kafka's own generator (see the README comments in the specs):
version ranges ("3+", "0-2", "none"), nullable and tagged versions per field, flexible versions
per message with a per-field override for strings and bytes, common structs shared inside one
spec file, and defaults given as strings.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codegen.jsonc import loads

MAX_VERSION = 0x7FFF


@dataclass(frozen=True)
class Versions:
    """An inclusive version range; empty when ``lo > hi``."""

    lo: int
    hi: int

    @classmethod
    def parse(cls, text: str | None, default: Versions | None = None) -> Versions:
        if text is None:
            if default is None:
                raise ValueError("missing version range")
            return default
        text = text.strip()
        if text == "none":
            return NONE
        if text.endswith("+"):
            return cls(int(text[:-1]), MAX_VERSION)
        if "-" in text:
            lo, hi = text.split("-", 1)
            return cls(int(lo), int(hi))
        v = int(text)
        return cls(v, v)

    @property
    def empty(self) -> bool:
        return self.lo > self.hi

    def __contains__(self, version: object) -> bool:
        return isinstance(version, int) and self.lo <= version <= self.hi

    def intersect(self, other: Versions) -> Versions:
        return Versions(max(self.lo, other.lo), min(self.hi, other.hi))

    def __iter__(self) -> Any:
        return iter(range(self.lo, self.hi + 1))

    def __str__(self) -> str:
        if self.empty:
            return "none"
        if self.hi == MAX_VERSION:
            return f"{self.lo}+"
        if self.lo == self.hi:
            return str(self.lo)
        return f"{self.lo}-{self.hi}"


NONE = Versions(1, 0)
ALL = Versions(0, MAX_VERSION)

# Fixed-width types: struct format code and size in bytes.
FIXED: dict[str, tuple[str, int]] = {
    "bool": ("?", 1),
    "int8": ("b", 1),
    "int16": ("h", 2),
    "uint16": ("H", 2),
    "int32": ("i", 4),
    "uint32": ("I", 4),
    "int64": ("q", 8),
    "float64": ("d", 8),
    "uuid": ("16s", 16),
}
VARIABLE = ("string", "bytes", "records")


@dataclass(frozen=True)
class FieldType:
    """``kind`` is a fixed type name, "string", "bytes", "records", "struct" or "array"."""

    kind: str
    struct_name: str | None = None
    element: FieldType | None = None

    @classmethod
    def parse(cls, text: str) -> FieldType:
        if text.startswith("[]"):
            element = cls.parse(text[2:])
            if element.kind == "array":
                raise ValueError(f"nested arrays are not supported: {text}")
            return cls("array", element=element)
        if text in FIXED or text in VARIABLE:
            return cls(text)
        if not text[:1].isupper():
            raise ValueError(f"unknown type {text}")
        return cls("struct", struct_name=text)

    @property
    def is_fixed(self) -> bool:
        return self.kind in FIXED

    @property
    def is_array(self) -> bool:
        return self.kind == "array"

    @property
    def is_struct(self) -> bool:
        return self.kind == "struct"

    @property
    def can_be_nullable(self) -> bool:
        return self.kind in ("string", "bytes", "records", "uuid", "array", "struct")

    def __str__(self) -> str:
        if self.kind == "array":
            return f"[]{self.element}"
        if self.kind == "struct":
            return str(self.struct_name)
        return self.kind


def snake_case(name: str) -> str:
    """``ThrottleTimeMs`` -> ``throttle_time_ms``, ``isKRaftController`` -> ``is_k_raft_controller``."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


@dataclass
class Field:
    name: str
    type: FieldType
    versions: Versions
    nullable: Versions
    tagged: Versions
    tag: int | None
    ignorable: bool
    default_text: str
    flexible_override: Versions | None
    map_key: bool
    about: str
    struct: Struct | None = None  # resolved for struct and struct-array fields

    @property
    def attr(self) -> str:
        return snake_case(self.name)

    @property
    def element_struct(self) -> Struct | None:
        return self.struct

    def present(self, version: int) -> bool:
        return version in self.versions

    def is_tagged(self, version: int) -> bool:
        return version in self.versions and version in self.tagged

    def is_regular(self, version: int) -> bool:
        return version in self.versions and version not in self.tagged

    def nullable_at(self, version: int) -> bool:
        return version in self.nullable

    @property
    def ever_nullable(self) -> bool:
        return not self.nullable.intersect(self.versions).empty

    def compact_at(self, version: int, message_flexible: Versions) -> bool:
        """Whether strings/bytes/arrays of this field use the compact (varint) forms."""
        if version not in message_flexible:
            return False
        if self.flexible_override is not None:
            return version in self.flexible_override
        return True

    def default_is_null(self) -> bool:
        if self.default_text == "null":
            return True
        # Kafka's records fields default to null; kproto keeps that when always nullable.
        return (
            self.type.kind == "records" and self.versions.intersect(self.nullable) == self.versions
        )

    def default_value(self) -> Any:
        """The default as a Python value (lists and structs are represented by markers)."""
        if self.default_is_null():
            return None
        kind = self.type.kind
        d = self.default_text
        if kind == "bool":
            if d == "":
                return False
            if d.lower() in ("true", "false"):
                return d.lower() == "true"
            raise ValueError(f"bad bool default {d!r} for {self.name}")
        if kind in ("int8", "int16", "uint16", "int32", "uint32", "int64"):
            if d == "":
                return 0
            if d.startswith(("0x", "-0x")):
                return int(d, 16)
            return int(d, 10)
        if kind == "float64":
            return float(d) if d else 0.0
        if kind == "string":
            return d
        if kind in ("bytes", "records"):
            if d:
                raise ValueError(f"bad bytes default {d!r} for {self.name}")
            return b""
        if kind == "uuid":
            if d:
                raise ValueError(f"uuid defaults are not supported ({self.name})")
            return uuid.UUID(int=0)
        if kind == "array":
            if d:
                raise ValueError(f"bad array default {d!r} for {self.name}")
            return []
        if kind == "struct":
            if d:
                raise ValueError(f"bad struct default {d!r} for {self.name}")
            return ...
        raise ValueError(kind)


@dataclass
class Struct:
    name: str
    fields: list[Field]
    versions: Versions
    is_common: bool = False

    def known_tags(self) -> set[int]:
        return {f.tag for f in self.fields if f.tag is not None}


@dataclass
class Message:
    name: str
    type: str  # request, response, header, data
    api_key: int | None
    valid: Versions
    flexible: Versions
    struct: Struct
    common_structs: list[Struct]
    file_name: str
    latest_version_unstable: bool = False
    structs: dict[str, Struct] = field(default_factory=dict)

    @property
    def module(self) -> str:
        return snake_case(self.name)

    @property
    def flexible_min(self) -> int | None:
        if self.flexible.empty or self.flexible.lo > self.valid.hi:
            return None
        return max(self.flexible.lo, self.valid.lo)

    def all_structs(self) -> list[Struct]:
        """Top-level struct first, then nested structs in spec order, then common structs."""
        out: list[Struct] = [self.struct]
        seen = {self.struct.name}

        def walk(s: Struct) -> None:
            for f in s.fields:
                sub = f.struct
                if sub is not None and not sub.is_common and sub.name not in seen:
                    seen.add(sub.name)
                    out.append(sub)
                    walk(sub)

        walk(self.struct)
        for c in self.common_structs:
            if c.name not in seen:
                seen.add(c.name)
                out.append(c)
                walk(c)
        return out


def _parse_field(raw: dict[str, Any], owner: str, inline: dict[str, Struct]) -> Field:
    tagged = Versions.parse(raw.get("taggedVersions"), NONE)
    versions_text = raw.get("versions")
    versions = Versions.parse(versions_text, tagged if not tagged.empty else None)
    ftype = FieldType.parse(raw["type"])
    nullable = Versions.parse(raw.get("nullableVersions"), NONE)
    if not nullable.empty and not ftype.can_be_nullable:
        raise ValueError(f"{owner}.{raw['name']}: type {ftype} cannot be nullable")
    override = raw.get("flexibleVersions")
    tag = None if raw.get("tag") is None else int(raw["tag"])
    if (tag is None) != tagged.empty:
        raise ValueError(f"{owner}.{raw['name']}: tag and taggedVersions go together")
    default = raw.get("default", "")
    f = Field(
        name=raw["name"],
        type=ftype,
        versions=versions,
        nullable=nullable,
        tagged=tagged,
        tag=tag,
        ignorable=bool(raw.get("ignorable", False)),
        default_text=str(default).lower() if isinstance(default, bool) else str(default),
        flexible_override=Versions.parse(override) if override else None,
        map_key=bool(raw.get("mapKey", False)),
        about=raw.get("about", ""),
    )
    if f.default_text == "null" and f.versions.intersect(f.nullable) != f.versions:
        raise ValueError(f"{owner}.{f.name}: null default but not nullable in all versions")
    if "fields" in raw:
        name = ftype.element.struct_name if ftype.element is not None else ftype.struct_name
        if name is None:
            raise ValueError(f"{owner}.{f.name}: only structs and struct arrays have fields")
        if name in inline:
            raise ValueError(f"struct {name} is defined twice")
        sub = Struct(name, [], versions)
        inline[name] = sub
        sub.fields = [_parse_field(r, name, inline) for r in raw["fields"]]
        f.struct = sub
    return f


def parse_message(raw: dict[str, Any], file_name: str) -> Message:
    inline: dict[str, Struct] = {}
    valid = Versions.parse(raw["validVersions"])
    flexible = Versions.parse(raw.get("flexibleVersions"), NONE)
    commons: list[Struct] = []
    for c in raw.get("commonStructs", []):
        s = Struct(c["name"], [], Versions.parse(c["versions"]), is_common=True)
        commons.append(s)
    common_by_name = {c.name: c for c in commons}
    for c, s in zip(raw.get("commonStructs", []), commons, strict=True):
        s.fields = [_parse_field(r, s.name, inline) for r in c["fields"]]
    top = Struct(raw["name"], [], valid)
    top.fields = [_parse_field(r, raw["name"], inline) for r in raw["fields"]]
    registry = dict(inline)
    for name, s in common_by_name.items():
        if name in registry:
            raise ValueError(f"{raw['name']}: struct {name} defined inline and as common struct")
        registry[name] = s

    def resolve(s: Struct) -> None:
        for f in s.fields:
            name = f.type.element.struct_name if f.type.element is not None else f.type.struct_name
            if name is not None and f.struct is None:
                if name not in registry:
                    raise ValueError(f"{raw['name']}: unknown struct {name}")
                f.struct = registry[name]

    for s in [top, *registry.values()]:
        resolve(s)
    msg = Message(
        name=raw["name"],
        type=raw["type"],
        api_key=raw.get("apiKey"),
        valid=valid,
        flexible=flexible,
        struct=top,
        common_structs=commons,
        file_name=file_name,
        latest_version_unstable=bool(raw.get("latestVersionUnstable", False)),
        structs=registry,
    )
    _check(msg)
    return msg


def _check(msg: Message) -> None:
    for s in msg.all_structs():
        tags: dict[int, str] = {}
        names: set[str] = set()
        for f in s.fields:
            if f.attr in names or f.attr == "unknown_tagged_fields":
                raise ValueError(f"{msg.name}.{s.name}: duplicate attribute {f.attr}")
            names.add(f.attr)
            if f.tag is not None:
                if f.tag in tags:
                    raise ValueError(f"{msg.name}.{s.name}: tag {f.tag} used twice")
                tags[f.tag] = f.name
                if f.type.kind == "records":
                    raise ValueError(f"{msg.name}.{f.name}: records cannot be tagged")
                flex = msg.flexible
                if f.tagged.intersect(flex) != f.tagged:
                    raise ValueError(f"{msg.name}.{f.name}: tagged versions must be flexible")


def load_specs(directory: Path) -> list[Message]:
    """Every ``*.json`` spec in ``directory``, sorted by file name."""
    out = []
    for path in sorted(directory.glob("*.json")):
        out.append(parse_message(loads(path.read_text(encoding="utf-8")), path.name))
    return out


def reachable_versions(msg: Message) -> dict[str, list[int]]:
    """For each struct, the message versions at which it can appear on the wire."""
    found: dict[str, set[int]] = {}

    def walk(s: Struct, version: int) -> None:
        seen = found.setdefault(s.name, set())
        if version in seen:
            return
        seen.add(version)
        for f in s.fields:
            if f.struct is not None and f.present(version):
                walk(f.struct, version)

    for v in msg.valid:
        walk(msg.struct, v)
    return {name: sorted(vs) for name, vs in found.items()}
