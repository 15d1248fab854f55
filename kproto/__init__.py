"""kproto: a Kafka client built as a sans-IO protocol core.

The core in this package never touches a socket, a clock or a thread: bytes and the current
time come in as arguments, bytes and events go out. The transports in ``kproto_threads``,
``kproto_asyncio`` and ``kproto_trio`` drive it.
"""

import logging

__version__ = "0.1.0"

from kproto import errors
from kproto.config import Config
from kproto.group.metadata import ConsumerGroupMetadata
from kproto.message_types import OFFSET_NEWEST, OFFSET_OLDEST, ConsumerMessage, ProducerMessage

logging.getLogger("kproto").addHandler(logging.NullHandler())

__all__ = [
    "OFFSET_NEWEST",
    "OFFSET_OLDEST",
    "Config",
    "ConsumerGroupMetadata",
    "ConsumerMessage",
    "ProducerMessage",
    "__version__",
    "errors",
]
