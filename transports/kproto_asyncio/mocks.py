"""Expectation-based doubles of this transport's producers, consumer and consumer group
(sarama's mocks); see docs/testing-your-app.md. The logic lives in kproto.testing.mocks."""

from kproto.testing.mocks.aio import *  # noqa: F403
from kproto.testing.mocks.aio import __all__ as __all__
