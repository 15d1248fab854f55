"""The consumer group options are checked when a Config is built."""

from __future__ import annotations

from typing import Any

import pytest

from kproto.config import Config
from kproto.errors import ConfigurationError
from kproto.group.assignors import Assignor


class Mine(Assignor):
    name = "mine"

    def assign(self, partitions: Any, members: Any) -> Any:
        return {}


@pytest.mark.parametrize("options,message", [
    (dict(assignors=()), "non-empty tuple"),
    (dict(assignors="range"), "non-empty tuple"),
    (dict(assignors=("range", "nope")), "unknown assignor 'nope'"),
    (dict(assignors=("range", "range")), "unique"),
    (dict(group_id=""), "group_id must be a non-empty string"),
    (dict(group_instance_id=7), "group_instance_id"),
    (dict(heartbeat_interval=10.0, session_timeout=10.0), "heartbeat_interval"),
])
def test_bad_group_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Config(**options)


def test_custom_assignors_by_object_or_class() -> None:
    assert Config(assignors=(Mine(), "range")).assignors[1] == "range"
    assert Config(assignors=(Mine, "cooperative-sticky")).assignors[0] is Mine


def test_config_names_exactly_the_built_in_assignors() -> None:
    """Config validates names without importing the group package: its list is the registry's."""
    from kproto.config import ASSIGNOR_NAMES
    from kproto.group.assignors import ASSIGNORS
    assert tuple(ASSIGNORS) == ASSIGNOR_NAMES
