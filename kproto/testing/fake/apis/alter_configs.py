"""AlterConfigs (key 33): replace a topic's dynamic configs with the given set (legacy).

Theory of operation: as IncrementalAlterConfigs, topic resources only: an unknown topic is
UNKNOWN_TOPIC_OR_PARTITION, an unknown config name INVALID_CONFIG, a null value
INVALID_REQUEST; otherwise every dynamic config not named goes back to its default (Kafka
replaces the whole set), unless ``validate_only``. Broker resources are INVALID_REQUEST (the
fake brokers have no dynamic configs).
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import alter_configs_response as ac
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Request
from kproto.testing.fake.apis.describe_configs import TOPIC
from kproto.testing.fake.state import TOPIC_DEFAULTS


def _replace(configs: list[Any]) -> tuple[int, str | None, dict[str, str]]:
    out: dict[str, str] = {}
    for c in configs:
        if c.name not in TOPIC_DEFAULTS:
            return codes.INVALID_CONFIG, f"Unknown topic config name: {c.name}", {}
        if c.value is None:
            return codes.INVALID_REQUEST, f"Null value not supported for {c.name}", {}
        out[c.name] = c.value
    return codes.NONE, None, out


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
                code, message, staged = _replace(list(r.configs))
                if not code and not req.body.validate_only:
                    topic.configs = staged
        out.append(ac.AlterConfigsResourceResponse(error_code=code, error_message=message,
                                                   resource_type=r.resource_type,
                                                   resource_name=r.resource_name))
    return protocol.AlterConfigsResponse(responses=out)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.AlterConfigsResponse(responses=[
        ac.AlterConfigsResourceResponse(error_code=code, resource_type=r.resource_type,
                                        resource_name=r.resource_name)
        for r in body.resources])


API = Api(apis.ALTER_CONFIGS, 0, 2, handle, error_response)
