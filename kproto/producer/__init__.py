"""The producer core: accumulation, sending, idempotence and transactions, without IO.

``ProducerCore(client_core, config)`` is what each transport's SyncProducer and
AsyncProducer drive; see docs/producer.md.
"""

from .core import ProducerCore
from .errors import (
    BufferFullError,
    ProducerError,
    ProducerErrors,
    TransactionAbortedError,
    TransactionStateError,
)
from .events import BufferSpaceAvailable, RecordsDelivered, RecordsFailed
from .streams import DropWarning, ResultBuffer
from .transactions import TxnStatus

__all__ = [
    "BufferFullError",
    "BufferSpaceAvailable",
    "DropWarning",
    "ProducerCore",
    "ProducerError",
    "ProducerErrors",
    "RecordsDelivered",
    "RecordsFailed",
    "ResultBuffer",
    "TransactionAbortedError",
    "TransactionStateError",
    "TxnStatus",
]
