"""DescribeConfigs (key 32): the configs of topics and brokers.

Theory of operation: a topic resource (type 2) lists the topic configs the fake cluster
knows (``TOPIC_DEFAULTS``), each with its source (DYNAMIC_TOPIC_CONFIG when set on the
topic, DEFAULT_CONFIG otherwise) and, from version 3, its type; an unknown topic is
UNKNOWN_TOPIC_OR_PARTITION. A broker resource (type 4) names a broker id (or "" for the
defaults) and lists a few broker settings; another id is INVALID_REQUEST. Other resource
types are INVALID_REQUEST. ``configuration_keys`` filters (null: all).
"""

from __future__ import annotations

from typing import Any

from kproto import protocol
from kproto.protocol import apis
from kproto.protocol.messages import describe_configs_response as dc
from kproto.testing.fake import codes
from kproto.testing.fake.apis._base import Api, Request
from kproto.testing.fake.state import TOPIC_DEFAULTS

TOPIC, BROKER = 2, 4
DYNAMIC_TOPIC_CONFIG, STATIC_BROKER_CONFIG, DEFAULT_CONFIG = 1, 4, 5
STRING, INT, LONG, LIST = 2, 3, 5, 7
CONFIG_TYPES = {"cleanup.policy": LIST, "compression.type": STRING,
                "max.message.bytes": INT, "message.timestamp.type": STRING,
                "min.insync.replicas": INT, "retention.bytes": LONG, "retention.ms": LONG,
                "segment.bytes": INT, "segment.ms": LONG}


def _broker_configs(req: Request) -> dict[str, str]:
    c = req.cluster
    return {"auto.create.topics.enable": str(c.auto_create_topics).lower(),
            "num.partitions": str(c.default_partitions),
            "socket.request.max.bytes": str(c.max_request_bytes),
            "sasl.enabled.mechanisms": ",".join(c.sasl_mechanisms) if c.sasl_users else ""}


def handle(req: Request) -> Any:
    cluster = req.cluster
    results = []
    for r in req.body.resources:
        keys = None if r.configuration_keys is None else set(r.configuration_keys)
        entries: list[Any] = []
        code = codes.NONE
        message = None
        if r.resource_type == TOPIC:
            topic = cluster.topics.get(r.resource_name)
            if topic is None:
                code = codes.UNKNOWN_TOPIC_OR_PARTITION
                message = f"Topic {r.resource_name} does not exist"
            else:
                for name in sorted(TOPIC_DEFAULTS):
                    if keys is not None and name not in keys:
                        continue
                    set_here = name in topic.configs
                    entries.append(dc.DescribeConfigsResourceResult(
                        name=name, value=topic.config(name), read_only=False,
                        config_source=DYNAMIC_TOPIC_CONFIG if set_here else DEFAULT_CONFIG,
                        is_sensitive=False, synonyms=[], config_type=CONFIG_TYPES[name]))
        elif r.resource_type == BROKER:
            if r.resource_name and (not r.resource_name.isdigit()
                                    or int(r.resource_name) not in cluster.brokers):
                code = codes.INVALID_REQUEST
                message = f"Unexpected broker id {r.resource_name}"
            else:
                for name, value in sorted(_broker_configs(req).items()):
                    if keys is None or name in keys:
                        entries.append(dc.DescribeConfigsResourceResult(
                            name=name, value=value, read_only=True,
                            config_source=STATIC_BROKER_CONFIG, is_sensitive=False,
                            synonyms=[], config_type=STRING))
        else:
            code = codes.INVALID_REQUEST
            message = f"Unsupported resource type {r.resource_type}"
        results.append(dc.DescribeConfigsResult(error_code=code, error_message=message,
                                                resource_type=r.resource_type,
                                                resource_name=r.resource_name,
                                                configs=entries))
    return protocol.DescribeConfigsResponse(results=results)


def error_response(body: Any, version: int, code: int) -> Any:
    return protocol.DescribeConfigsResponse(results=[
        dc.DescribeConfigsResult(error_code=code, resource_type=r.resource_type,
                                 resource_name=r.resource_name, configs=[])
        for r in body.resources])


API = Api(apis.DESCRIBE_CONFIGS, 1, 4, handle, error_response)
