"""kproto driven by blocking sockets: one IO thread per client, concurrent.futures inside."""

from kproto_threads.client import Client

__all__ = ["Client"]
