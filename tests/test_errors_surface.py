"""Every public error class of kproto is importable from ``kproto.errors``, without that
import loading the feature packages; and every errors stream yields values of one shape."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import subprocess
import sys

import pytest

import kproto
import kproto.errors
from kproto.consumer.events import ConsumerError
from kproto.group.events import GroupError
from kproto.message_types import ProducerMessage
from kproto.producer.errors import ProducerError


def public_error_classes() -> dict[str, type[BaseException]]:
    """Exception classes defined by a module of kproto under a public name."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(kproto.__path__, "kproto."):
        if info.name.startswith("kproto.protocol.messages."):
            continue  # generated wire structs, no exceptions
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (isinstance(obj, type) and issubclass(obj, BaseException)
                    and obj.__module__ == info.name and not name.startswith("_")):
                found[name] = obj
    return found


def test_every_public_error_class_is_importable_from_kproto_errors() -> None:
    classes = public_error_classes()
    assert {"BufferFullError", "InvalidPartitionError", "LogTruncationError", "CommitFailed",
            "SessionAbandonedError", "UsageError"} <= set(classes)
    missing = sorted(n for n, cls in classes.items() if getattr(kproto.errors, n, None) is not cls)
    assert not missing, f"not importable from kproto.errors: {missing}"
    unlisted = sorted(set(classes) - set(kproto.errors.__all__))
    assert not unlisted, f"missing from kproto.errors.__all__: {unlisted}"


def test_importing_kproto_errors_loads_no_feature_package() -> None:
    code = ("import sys, kproto.errors\n"
            "from kproto.errors import UsageError\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('kproto'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    defining = {"kproto.producer", "kproto.consumer", "kproto.group.offsets",
                "kproto.group.core", "kproto.group.membership", "kproto.group.events",
                "kproto.partitioners", "kproto.engine.connection"}
    loaded = [m for m in out if m in defining or m.startswith(("kproto.producer.",
                                                               "kproto.consumer."))]
    assert not loaded, loaded


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchError"):
        kproto.errors.NoSuchError  # noqa: B018
    with pytest.raises(ImportError):
        from kproto.errors import NoSuchError  # type: ignore[attr-defined]  # noqa: F401


def test_stream_error_values_have_one_shape() -> None:
    cause = ValueError("boom")
    produced = ProducerError(ProducerMessage("t", value=b"v", partition=2), cause)
    consumed = ConsumerError("t", 2, cause)
    grouped = GroupError(1, cause, "t", 2)
    for value in (produced, consumed, grouped):
        assert (value.topic, value.partition, value.error) == ("t", 2, cause)
        assert "t" in str(value) and "boom" in str(value)
    assert str(consumed) == str(grouped) == "t[2]: boom"
    assert produced.message.value == b"v"
    for frozen in (consumed, grouped):
        with pytest.raises(dataclasses.FrozenInstanceError):
            frozen.error = cause  # type: ignore[misc]
    unpartitioned = ProducerError(ProducerMessage("t", value=b"v"), cause)
    assert (unpartitioned.topic, unpartitioned.partition) == ("t", None)
    lost = GroupError(1, cause)
    assert (lost.topic, lost.partition, str(lost)) == (None, None, "boom")
