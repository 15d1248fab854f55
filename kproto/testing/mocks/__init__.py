"""sarama-style mocks for users' unit tests: expectation-based SyncProducer, AsyncProducer,
Consumer and ConsumerGroup doubles with the real classes' methods.

Import them from your transport: ``from kproto_threads.mocks import SyncProducer`` (or
``kproto_asyncio.mocks``, ``kproto_trio.mocks``). The logic is here once: ``_script.py`` (the
expectations, pure), ``_common.py`` (what blocking and awaited mocks share), ``blocking.py``
and ``aio.py`` (the method shells). A call nothing expected raises :class:`MockError` at
once; ``close`` raises it naming every expectation left unmet.
"""

from kproto.testing.mocks._script import MockError, PartitionScript, SessionScript

__all__ = ["MockError", "PartitionScript", "SessionScript"]
