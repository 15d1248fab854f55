"""The three adapters expose the same public surface, and it has not changed.

``surface(module)`` reduces each public class of an adapter to its members: for a method,
whether it is awaited and its parameters (name, kind, default); annotations are left out.
``surfaces.json`` holds the surface as it was before the facades were written once, plus
what was added since (new classes and methods are added to it on purpose; what existed
must not change); the adapters must match it, and must match each other up to what is native to each
transport (threads: ``timeout=`` and blocking iteration; trio: memory-channel streams).
"""

from __future__ import annotations

import importlib
import inspect
import json
import pathlib
from typing import Any

import pytest

ADAPTERS = ("kproto_threads", "kproto_asyncio", "kproto_trio")
SNAPSHOT = pathlib.Path(__file__).with_name("surfaces.json")
MODULES = ("client", "producer", "consumer", "group", "admin", "offsets", "group_consumer")
CONSTRUCTED = {"Client", "SyncProducer", "AsyncProducer", "Consumer", "ConsumerGroup", "Cancel",
               "ClusterAdmin", "OffsetManager", "GroupConsumer"}
"""Classes users construct: their __init__ is part of the surface."""
PROTOCOL = {"__aenter__", "__aexit__", "__enter__", "__exit__", "__iter__", "__next__",
            "__aiter__", "__anext__", "__len__", "__init__"}
# trio's streams are trio.abc.ReceiveChannel subclasses, named for it.
TRIO_NAMES = {"MessageStream": "MessageChannel", "ErrorStream": "ErrorChannel"}
NATIVE = {"kproto_threads": {"timeout", "cancel"}, "kproto_asyncio": {"timeout"},
          "kproto_trio": {"timeout"}}
"""Left out of the comparison: every blocking wait takes a bound (some async ones do too, the
snapshot keeps which); the blocking consume takes a Cancel."""


def _params(fn: Any) -> list[str]:
    out = []
    for p in inspect.signature(fn).parameters.values():
        if p.name == "self":
            continue
        prefix = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**", p.KEYWORD_ONLY: "kw:"}.get(
            p.kind, "")
        default = "" if p.default is p.empty else f"={p.default!r}"
        out.append(f"{prefix}{p.name}{default}")
    return out


def surface(adapter: str) -> dict[str, dict[str, Any]]:
    classes: dict[str, Any] = {}
    for sub in MODULES:
        mod = importlib.import_module(f"{adapter}.{sub}")
        for name in mod.__all__:
            classes[name] = getattr(mod, name)
    out: dict[str, dict[str, Any]] = {}
    for name, cls in sorted(classes.items()):
        members: dict[str, Any] = {}
        for attr in dir(cls):
            if attr.startswith("_") and attr not in PROTOCOL:
                continue
            if attr == "__init__" and name not in CONSTRUCTED:
                continue
            static = inspect.getattr_static(cls, attr)
            value = getattr(cls, attr)
            if isinstance(static, property):
                members[attr] = "property"
            elif callable(value):
                kind = "async" if inspect.iscoroutinefunction(value) else "sync"
                members[attr] = [kind, *_params(value)]
            else:
                members[attr] = "attribute"
        out[name] = members
    return out


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_surface_is_unchanged(adapter: str) -> None:
    expected = json.loads(SNAPSHOT.read_text())[adapter]
    assert surface(adapter) == expected


def _comparable(adapter: str) -> dict[str, dict[str, Any]]:
    """The surface with what is native to the transport taken out."""
    out = {}
    back = {v: k for k, v in TRIO_NAMES.items()}
    for name, members in surface(adapter).items():
        shared = {}
        for attr, value in members.items():
            if attr in PROTOCOL - {"__init__"}:
                continue  # iteration and context protocols differ by transport by design
            if isinstance(value, list):
                value = ["call"] + [p for p in value[1:]
                                    if p.split("=")[0].removeprefix("kw:")
                                    not in NATIVE.get(adapter, set())]
            shared[attr] = value
        out[back.get(name, name)] = shared
    return out


def test_the_adapters_match_each_other() -> None:
    threads, aio, trio_ = (_comparable(a) for a in ADAPTERS)
    for name in set(threads) | set(aio) | set(trio_):
        if name == "Cancel":
            assert name in threads and name not in aio and name not in trio_
            continue
        a, t = aio.get(name), threads.get(name)
        assert a is not None and t is not None, name
        # Methods the async adapters share with the blocking one have the same parameters.
        for attr in set(a) & set(t):
            assert a[attr] == t[attr], f"{name}.{attr}: asyncio {a[attr]} threads {t[attr]}"
        r = trio_[name]
        for attr in set(a) & set(r):
            assert a[attr] == r[attr], f"{name}.{attr}: asyncio {a[attr]} trio {r[attr]}"
        # Every public method of the asyncio class exists on threads, and on trio unless it
        # is a stream (trio's are channels: receive / receive_nowait instead of get).
        assert set(a) <= set(t) | {"get_nowait"}, (name, set(a) - set(t))
        if name not in TRIO_NAMES and name not in {"ClaimMessages", "GroupErrors"}:
            assert set(a) == set(r), (name, set(a) ^ set(r))


def test_awaited_where_threads_block() -> None:
    """What threads does blocking, asyncio and trio await, and the other way round."""
    raw = {a: surface(a) for a in ADAPTERS}
    for name, members in raw["kproto_asyncio"].items():
        trio_members = raw["kproto_trio"].get(TRIO_NAMES.get(name, name), {})
        for attr, value in members.items():
            other = trio_members.get(attr)
            if isinstance(value, list) and isinstance(other, list):
                assert value[0] == other[0], f"{name}.{attr}"
    assert all(v[0] == "sync" for c in raw["kproto_threads"].values() for v in c.values()
               if isinstance(v, list))
