"""IncrementalAlterConfigs (key 44): set, delete, append to or subtract from topic configs.

Theory of operation: topic resources only (type 2): an unknown topic is
UNKNOWN_TOPIC_OR_PARTITION, a config the fake cluster's topics do not have INVALID_CONFIG,
APPEND or SUBTRACT on a config that is not a list INVALID_CONFIG, an operation other than
0-3 INVALID_REQUEST; the changes of one resource apply together or not at all, and not
with ``validate_only``. Broker resources are INVALID_REQUEST here (the fake brokers have no
dynamic configs).
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import incremental_alter_configs_response as ia
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Request
from kproto.testing.fake.apis.describe_configs import CONFIG_TYPES, LIST, TOPIC
from kproto.testing.fake.state import TOPIC_DEFAULTS

SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


def _apply(configs: dict[str, str], changes: list[Any]) -> tuple[int, str | None]:
    for c in changes:
        if c.name not in TOPIC_DEFAULTS:
            return codes.INVALID_CONFIG, f"Unknown topic config name: {c.name}"
        if c.config_operation == SET:
            if c.value is None:
                return codes.INVALID_REQUEST, f"Null value not supported for {c.name}"
            configs[c.name] = c.value
        elif c.config_operation == DELETE:
            configs.pop(c.name, None)
        elif c.config_operation in (APPEND, SUBTRACT):
            if CONFIG_TYPES[c.name] != LIST:
                return codes.INVALID_CONFIG, (
                    f"Config value append is not allowed for config key: {c.name}")
            current = [v for v in configs.get(c.name, TOPIC_DEFAULTS[c.name]).split(",") if v]
            values = [v for v in (c.value or "").split(",") if v]
            if c.config_operation == APPEND:
                current += [v for v in values if v not in current]
            else:
                current = [v for v in current if v not in values]
            configs[c.name] = ",".join(current)
        else:
            return codes.INVALID_REQUEST, f"Unknown operation {c.config_operation}"
    return codes.NONE, None


def handle(req: Request) -> Any:
    out = []
    for r in req.body.resources:
        code: int = codes.NONE
        message = None
        if r.resource_type != TOPIC:
            code, message = codes.INVALID_REQUEST, "Only topic configs can be altered here"
        else:
            topic = req.cluster.topics.get(r.resource_name)
            if topic is None:
                code = codes.UNKNOWN_TOPIC_OR_PARTITION
            else:
                staged = dict(topic.configs)
                code, message = _apply(staged, list(r.configs))
                if not code and not req.body.validate_only:
                    topic.configs = staged
        out.append(ia.AlterConfigsResourceResponse(error_code=code, error_message=message,
                                                   resource_type=r.resource_type,
                                                   resource_name=r.resource_name))
    return protocol.IncrementalAlterConfigsResponse(responses=out)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.IncrementalAlterConfigsResponse(responses=[
        ia.AlterConfigsResourceResponse(error_code=code, resource_type=r.resource_type,
                                        resource_name=r.resource_name)
        for r in body.resources])


API = Api(apis.INCREMENTAL_ALTER_CONFIGS, 0, 1, handle, error_response)
