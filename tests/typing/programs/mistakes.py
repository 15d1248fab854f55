"""Each line marked ``# error`` is a mistake a type checker must report (and only those)."""

from __future__ import annotations

import kproto_asyncio
import kproto_threads
from kproto import ProducerMessage

BOOT = "localhost:9092"


class NoClaims(kproto_threads.GroupHandler):
    def setup(self, session: kproto_threads.Session) -> None:
        pass


class NotAHandler:
    def consume(self) -> None:
        pass


def main() -> None:
    kproto_threads.SyncProducer(BOOT, acks="all")  # error: acks is 0, 1 or -1
    kproto_threads.SyncProducer(BOOT, ackz=-1)  # error: no such option
    kproto_threads.Consumer(BOOT, fetch_max_wait="1s")  # error: a float
    kproto_asyncio.Client(BOOT, security_protocol="TLS")  # error: not a protocol
    kproto_threads.ClusterAdmin(BOOT, request_timeout=None)  # error: a float
    with kproto_threads.ConsumerGroup(BOOT, group_id="g") as group:
        group.consume(["t"], object())  # error: not a handler
        group.consume(["t"], NotAHandler())  # error: no consume_claim
    with kproto_threads.AsyncProducer(BOOT) as producer:
        wrong: int = producer.successes.get()  # error: a ProducerMessage  # noqa: F841
        producer.send(ProducerMessage("t", value="text"))  # error: bytes, not str
    NoClaims()  # fine to build; consume() refuses it before joining (a runtime check)
