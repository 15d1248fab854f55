"""Base classes of the generated message and struct classes.

Theory of operation: a generated class holds plain attributes (``__slots__``) and nothing else;
its per-version encode and decode functions are module-level functions in the generated module,
collected in the class attributes ``_ENCODERS`` and ``_DECODERS`` (indexed by
``version - MIN_VERSION``). This module supplies what every class shares: equality, ``repr``,
and for top-level messages the version check and the error context (message name and version)
added to any ``DecodeError``/``EncodeError`` raised below. It also holds ``ApiSpec``, the entry
of the API registry, which imports its request and response classes on first access so that
the registry costs no message module import.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import FrozenInstanceError
from functools import cached_property
from typing import Any, ClassVar, TypeVar

from kproto.errors import DecodeError, EncodeError

Decoder = Callable[[bytes, int], tuple[Any, int]]
Encoder = Callable[[bytearray, Any], None]

_M = TypeVar("_M", bound="Message")


class _Default:
    """Marks an argument left out of a constructor: the field gets a new default value.

    A singleton that survives copy and pickle, since lazily created struct fields hold it
    until first read.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "DEFAULT"

    def __reduce__(self) -> str:
        return "DEFAULT"

    def __copy__(self) -> _Default:
        return self

    def __deepcopy__(self, memo: object) -> _Default:
        return self


DEFAULT: Any = _Default()

_REPR_BYTES = 64


def _short_repr(value: object) -> str:
    if isinstance(value, (bytes, bytearray)) and len(value) > _REPR_BYTES:
        return f"{bytes(value[:_REPR_BYTES])!r}...({len(value)} bytes)"
    return repr(value)


class Struct:
    """A struct of a Kafka message: fields as attributes, unknown tagged fields kept raw."""

    __slots__ = ()

    # The fields in spec order (``__slots__`` is sorted), then ``unknown_tagged_fields``.
    _FIELDS: ClassVar[tuple[str, ...]] = ()
    unknown_tagged_fields: list[tuple[int, bytes]]

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        parts = []
        for n in self._FIELDS:
            value = getattr(self, n)
            if n == "unknown_tagged_fields" and not value:
                continue
            parts.append(f"{n}={_short_repr(value)}")
        return f"{type(self).__name__}({', '.join(parts)})"


class Message(Struct):
    """A top-level message: a request, a response, a header or a standalone data type."""

    __slots__ = ()

    API_KEY: ClassVar[int] = -1
    NAME: ClassVar[str]
    MIN_VERSION: ClassVar[int]
    MAX_VERSION: ClassVar[int]
    FLEXIBLE_MIN: ClassVar[int | None] = None
    _DECODERS: ClassVar[tuple[Decoder, ...]]
    _ENCODERS: ClassVar[tuple[Encoder, ...]]

    @classmethod
    def is_flexible(cls, version: int) -> bool:
        return cls.FLEXIBLE_MIN is not None and version >= cls.FLEXIBLE_MIN

    def encode(self, version: int) -> bytes:
        """The message's bytes at ``version`` (no size prefix, no header)."""
        w = bytearray()
        self.encode_into(w, version)
        return bytes(w)

    def encode_into(self, w: bytearray, version: int) -> None:
        """Append the message's bytes at ``version`` to ``w`` (partial output on error)."""
        cls = type(self)
        if not cls.MIN_VERSION <= version <= cls.MAX_VERSION:
            raise EncodeError(
                f"version {version} is outside the valid versions "
                f"{cls.MIN_VERSION}-{cls.MAX_VERSION}",
                message_name=cls.NAME,
                version=version,
            )
        try:
            cls._ENCODERS[version - cls.MIN_VERSION](w, self)
        except EncodeError as e:
            e.message_name = cls.NAME
            e.version = version
            raise

    @classmethod
    def decode(cls: type[_M], data: bytes | bytearray | memoryview, version: int) -> _M:
        """Decode ``data`` at ``version``; every byte must belong to the message."""
        b = data if type(data) is bytes else bytes(data)
        obj, end = cls.decode_from(b, 0, version)
        if end != len(b):
            raise DecodeError(
                f"{len(b) - end} bytes left over after the message",
                message_name=cls.NAME,
                version=version,
                offset=end,
            )
        return obj

    @classmethod
    def decode_from(cls: type[_M], b: bytes, offset: int, version: int) -> tuple[_M, int]:
        """Decode one message starting at ``offset``; returns it and the offset after it."""
        if not cls.MIN_VERSION <= version <= cls.MAX_VERSION:
            raise DecodeError(
                f"version {version} is outside the valid versions "
                f"{cls.MIN_VERSION}-{cls.MAX_VERSION}",
                message_name=cls.NAME,
                version=version,
            )
        try:
            obj, end = cls._DECODERS[version - cls.MIN_VERSION](b, offset)
        except DecodeError as e:
            e.message_name = cls.NAME
            e.version = version
            raise
        return obj, end


class ApiSpec:
    """One Kafka API: its key, name, request and response classes and the versions kproto knows.

    ``request`` and ``response`` may be given as ``"module:Class"`` references (the generated
    registry does so, so that importing it loads none of the message modules): each class is
    imported on first access and kept, later reads are plain attribute reads. Immutable;
    compares and hashes by value.
    """

    __match_args__ = ("key", "name", "request", "response", "min_version", "max_version")

    key: int
    name: str
    min_version: int
    max_version: int
    _refs: tuple[str, str]

    def __init__(
        self,
        key: int,
        name: str,
        request: type[Message] | str,
        response: type[Message] | str,
        min_version: int,
        max_version: int,
    ) -> None:
        init = object.__setattr__
        init(self, "key", key)
        init(self, "name", name)
        init(self, "min_version", min_version)
        init(self, "max_version", max_version)
        init(self, "_refs", (_class_ref(request), _class_ref(response)))
        if not isinstance(request, str):
            init(self, "request", request)
        if not isinstance(response, str):
            init(self, "response", response)

    @cached_property
    def request(self) -> type[Message]:
        return _load_class(self._refs[0])

    @cached_property
    def response(self) -> type[Message]:
        return _load_class(self._refs[1])

    def _key(self) -> tuple[int, str, tuple[str, str], int, int]:
        return (self.key, self.name, self._refs, self.min_version, self.max_version)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ApiSpec):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"ApiSpec(key={self.key!r}, name={self.name!r}, request={self._refs[0]!r}, "
            f"response={self._refs[1]!r}, min_version={self.min_version!r}, "
            f"max_version={self.max_version!r})"
        )

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[type[ApiSpec], tuple[int, str, str, str, int, int]]:
        return (ApiSpec, (self.key, self.name, *self._refs, self.min_version, self.max_version))


def _class_ref(cls: type[Message] | str) -> str:
    if isinstance(cls, str):
        module, sep, name = cls.partition(":")
        if not (module and sep and name.isidentifier()):
            raise ValueError(f"class reference {cls!r} is not of the form 'module:Class'")
        return cls
    return f"{cls.__module__}:{cls.__qualname__}"


def _load_class(ref: str) -> type[Message]:
    module, _, name = ref.partition(":")
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, Message)):
        raise TypeError(f"{ref} is not a message class")
    return cls
