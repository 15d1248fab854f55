"""Real Apache Kafka brokers for kproto's tests, independent of kproto itself.

See docs/testing.md. Entry points: ``fetch`` (jars), ``KafkaCluster`` (one broker or a cluster),
``FaultProxy`` (network faults), ``wire`` (hand-encoded probe requests), and the CLI
``python -m tests.harness``.
"""

from .broker import BrokerStartError, KafkaCluster, start_broker, start_cluster
from .config import SASL_MECHANISMS, SASL_USER, SASL_WRONG_PASSWORD
from .jars import (
    DEFAULT_VERSION,
    VERSIONS,
    HarnessError,
    MissingTool,
    chosen_version,
    fetch,
    fetch_all,
)
from .node import Node
from .proxy import FaultProxy

__all__ = [
    "DEFAULT_VERSION",
    "SASL_MECHANISMS",
    "SASL_USER",
    "SASL_WRONG_PASSWORD",
    "VERSIONS",
    "BrokerStartError",
    "FaultProxy",
    "HarnessError",
    "KafkaCluster",
    "MissingTool",
    "Node",
    "chosen_version",
    "fetch",
    "fetch_all",
    "start_broker",
    "start_cluster",
]
