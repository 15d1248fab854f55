"""kproto driven by trio: a task per connection, results delivered to awaiting tasks."""

from kproto_trio.client import Client

__all__ = ["Client"]
