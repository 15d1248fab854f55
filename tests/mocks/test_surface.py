"""Each mock has its real class's public methods, each awaited or not as the real one and
with the same parameters; a mock adds only its ``expect_*``/scripting members."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest

from tests.conformance.test_surfaces import ADAPTERS, PROTOCOL, _params

CLASSES = {"SyncProducer": "producer", "AsyncProducer": "producer", "Consumer": "consumer",
           "PartitionConsumer": "consumer", "ConsumerGroup": "group", "Session": "group",
           "Claim": "group"}
EXTRA = {"expect_send_message_and_succeed", "expect_send_message_and_fail",
         "expect_send_message_with_check", "sent", "expect_consume_partition",
         "set_topic_metadata", "expect_messages_drained_on_close", "expect_consume",
         "committed"}


def _members(cls: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in dir(cls):
        if attr == "__init__" or (attr.startswith("_") and attr not in PROTOCOL):
            continue
        static = inspect.getattr_static(cls, attr)
        value = getattr(cls, attr)
        if isinstance(static, property):
            out[attr] = "property"
        elif callable(value):
            kind = "async" if inspect.iscoroutinefunction(value) else "sync"
            out[attr] = [kind, *_params(value)]
        else:
            out[attr] = "attribute"
    return out


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("name", sorted(CLASSES))
def test_a_mock_has_the_real_class_surface(adapter: str, name: str) -> None:
    real = _members(getattr(importlib.import_module(f"{adapter}.{CLASSES[name]}"), name))
    mock = _members(getattr(importlib.import_module(f"{adapter}.mocks"), name))
    missing = {k: v for k, v in real.items() if mock.get(k) != v}
    assert not missing, {k: (v, mock.get(k)) for k, v in missing.items()}
    extra = set(mock) - set(real) - EXTRA
    # Claim is the real claim's members; a mock claim is a partition consumer underneath.
    if name == "Claim":
        extra -= set(_members(importlib.import_module(f"{adapter}.mocks").PartitionConsumer))
    assert not extra
