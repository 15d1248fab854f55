"""Fault hooks: what a test scripts the fake cluster to do wrong, and a seeded random mode.

Theory of operation: a list of ``Rule``s, each matching requests by API key (or any), by
broker, and for partition errors by topic and partition, with a count of how many more
requests it applies to (-1: until cleared). Rules apply in the order they were added; the
first that matches is used and its count goes down. A request-level rule decides one of:

- ``error``: answer the whole request with an error code (nothing is applied);
- ``delay``: answer as usual, ``seconds`` later (on the caller's clock);
- ``drop``: close the connection instead of answering;
- ``stall``: never answer; the connection keeps reading but answers nothing more;
- ``hold``: keep the request, unserved, in ``Faults.held`` until the test releases it (served
  then, as usual), answers it with a response of its own, or loses its answer; the requests
  behind it on its connection wait, as they do behind any request a Kafka broker has not
  answered yet;
- ``respond``: answer with the test's response (or what its callable builds from the
  request) instead of serving the request;
- ``lose``: serve the request (its effects apply: a Produce is written) and close the
  connection instead of writing the answer, as when a broker's answer is lost on the way.

A partition rule (``topic`` set) is consulted by the APIs that answer per partition
(Produce, Fetch, ListOffsets, OffsetForLeaderEpoch, OffsetCommit, TxnOffsetCommit,
AddPartitionsToTxn, DeleteRecords): that partition gets the error, the others are served.

``seeded(rng, ...)`` adds a random mode on top: with the given probabilities a request is
answered with a retriable error suited to its API, delayed, or its connection dropped; the
``random.Random`` is the test's, so a failing seed replays exactly. Broker-wide faults
(stop, restart, leader moves, unclean leader changes, stalled brokers) are methods of the
cluster, since they change its state.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kproto.protocol import apis
from kproto.testing.fake import codes

__all__ = ["Decision", "Faults", "HeldRequest", "Rule"]

ERROR, DELAY, DROP, STALL = "error", "delay", "drop", "stall"
HOLD, RESPOND, LOSE = "hold", "respond", "lose"
RELEASE, ANSWER, APPLY = "release", "answer", "apply"

_COORD = (codes.COORDINATOR_NOT_AVAILABLE, codes.NOT_COORDINATOR)
RETRIABLE: dict[int, tuple[int, ...]] = {
    apis.PRODUCE: (codes.NOT_LEADER_OR_FOLLOWER, codes.NOT_ENOUGH_REPLICAS),
    apis.FETCH: (codes.NOT_LEADER_OR_FOLLOWER, codes.UNKNOWN_LEADER_EPOCH),
    apis.LIST_OFFSETS: (codes.NOT_LEADER_OR_FOLLOWER, codes.LEADER_NOT_AVAILABLE),
    apis.FIND_COORDINATOR: (codes.COORDINATOR_NOT_AVAILABLE,),
    apis.JOIN_GROUP: _COORD,
    apis.SYNC_GROUP: _COORD,
    apis.HEARTBEAT: _COORD,
    apis.OFFSET_COMMIT: _COORD,
    apis.OFFSET_FETCH: _COORD,
    apis.INIT_PRODUCER_ID: _COORD,
    apis.ADD_PARTITIONS_TO_TXN: (*_COORD, codes.CONCURRENT_TRANSACTIONS),
    apis.ADD_OFFSETS_TO_TXN: (*_COORD, codes.CONCURRENT_TRANSACTIONS),
    apis.END_TXN: (*_COORD, codes.CONCURRENT_TRANSACTIONS),
    apis.TXN_OFFSET_COMMIT: _COORD,
}
"""Retriable errors the random mode picks from, per API (Kafka's own for those APIs)."""


@dataclass
class Rule:
    action: str
    api_key: int | None = None
    count: int = 1
    error: int = 0
    seconds: float = 0.0
    node: int | None = None
    topic: str | None = None
    partition: int | None = None
    response: Any = None

    def matches(self, api_key: int, node: int) -> bool:
        return ((self.api_key is None or self.api_key == api_key)
                and (self.node is None or self.node == node) and self.count != 0)


@dataclass(frozen=True)
class Decision:
    action: str
    error: int = 0
    seconds: float = 0.0
    response: Any = None


class HeldRequest:
    """A request a ``hold`` rule kept back; the test decides its fate, once, with ``now``.

    ``request`` is the decoded body, ``header`` its request header, ``version`` its API
    version, ``node`` the broker that received it and ``at`` when. After the connection
    closed (the client went away, a broker stop) it leaves ``Faults.held`` and its methods
    do nothing, as a real broker drops the work of a closed connection.
    """

    def __init__(self, api_key: int, version: int, header: Any, request: Any, node: int,
                 at: float, resolve: Callable[[str, Any, float], None],
                 conn_id: int = -1) -> None:
        self.api_key = api_key
        self.conn_id = conn_id
        self.version = version
        self.header = header
        self.request = request
        self.node = node
        self.at = at
        self.outcome: str | None = None
        """None while held, then "release", "answer", "lose" or "apply"."""
        self._resolve = resolve

    def release(self, now: float) -> None:
        """Serve the request now, the usual way (its answer may still wait, as a Fetch's)."""
        self._settle(RELEASE, None, now)

    def answer(self, response: Any, now: float) -> None:
        """Answer with ``response`` (a response object of the request's API), unserved."""
        self._settle(ANSWER, response, now)

    def lose(self, now: float) -> None:
        """Serve the request now, then close its connection instead of answering."""
        self._settle(LOSE, None, now)

    def apply(self, now: float) -> None:
        """Serve the request now and never answer it: the connection stays open and silent
        (its later requests wait), as behind a broker whose answer is stuck; the client's
        request timeout decides what happens next."""
        self._settle(APPLY, None, now)

    def _settle(self, outcome: str, response: Any, now: float) -> None:
        if self.outcome is not None:
            raise RuntimeError(f"held request already settled ({self.outcome})")
        self.outcome = outcome
        self._resolve(outcome, response, now)

    def __repr__(self) -> str:
        return (f"HeldRequest(api_key={self.api_key}, version={self.version}, "
                f"node={self.node}, at={self.at}, outcome={self.outcome})")


@dataclass
class _Random:
    rng: random.Random
    error_rate: float
    drop_rate: float
    delay_rate: float
    max_delay: float


class Faults:
    """The scripted and random faults of one cluster (``FakeCluster.faults``)."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self.watchers: list[Callable[[int, int, Any, int], None]] = []
        """Called as ``(api_key, node, request, version)`` for every request a broker
        reads, before any rule applies (``watch``)."""
        self.held: list[HeldRequest] = []
        """The requests ``hold`` rules keep back, oldest first (see ``HeldRequest``)."""
        self._random: _Random | None = None
        self.injected = 0
        """How many faults were applied so far (scripted and random)."""

    def fail(self, api_key: int, error: int, count: int = 1, *, topic: str | None = None,
             partition: int | None = None, node: int | None = None) -> Rule:
        """Answer the next ``count`` requests of ``api_key`` with ``error``; with ``topic``
        (and ``partition``) only that partition's entries of those requests."""
        rule = Rule(ERROR, api_key, count, error, node=node, topic=topic, partition=partition)
        self.rules.append(rule)
        return rule

    def delay(self, seconds: float, api_key: int | None = None, count: int = 1, *,
              node: int | None = None) -> Rule:
        """Answer the next ``count`` matching requests ``seconds`` late."""
        rule = Rule(DELAY, api_key, count, seconds=seconds, node=node)
        self.rules.append(rule)
        return rule

    def drop(self, api_key: int | None = None, count: int = 1, *,
             node: int | None = None) -> Rule:
        """Close the connection on receiving the next ``count`` matching requests."""
        rule = Rule(DROP, api_key, count, node=node)
        self.rules.append(rule)
        return rule

    def stall(self, api_key: int | None = None, count: int = 1, *,
              node: int | None = None) -> Rule:
        """Never answer the next matching request: its connection hangs from there on."""
        rule = Rule(STALL, api_key, count, node=node)
        self.rules.append(rule)
        return rule

    def hold(self, api_key: int | None = None, count: int = 1, *,
             node: int | None = None) -> Rule:
        """Keep the next ``count`` matching requests in ``held`` until the test releases,
        answers or loses each (``HeldRequest``); the connection's later requests wait."""
        rule = Rule(HOLD, api_key, count, node=node)
        self.rules.append(rule)
        return rule

    def respond(self, api_key: int, response: Any, count: int = 1, *,
                node: int | None = None) -> Rule:
        """Answer the next ``count`` requests of ``api_key`` with ``response`` instead of
        serving them: a response object, or a callable ``(request, version) -> response``
        given the decoded request (one that returns None serves the request as usual)."""
        if response is None:
            raise ValueError("respond: response must be a response object or a callable")
        rule = Rule(RESPOND, api_key, count, node=node, response=response)
        self.rules.append(rule)
        return rule

    def lose_response(self, api_key: int | None = None, count: int = 1, *,
                      node: int | None = None) -> Rule:
        """Serve the next ``count`` matching requests, then close the connection instead of
        answering: the request took effect, the client never hears of it."""
        rule = Rule(LOSE, api_key, count, node=node)
        self.rules.append(rule)
        return rule

    def watch(self, callback: Callable[[int, int, Any, int], None]) -> None:
        """Call ``callback(api_key, node, request, version)`` with every request a broker
        reads (decoded), before the rules: to see what a client sent, e.g. the sequences of
        its Produce batches, without changing the answers."""
        self.watchers.append(callback)

    def pop_held(self, api_key: int | None = None) -> HeldRequest:
        """The oldest held request (of ``api_key``), taken out of ``held``."""
        for i, h in enumerate(self.held):
            if api_key is None or h.api_key == api_key:
                return self.held.pop(i)
        raise LookupError(f"no held request of API {api_key}" if api_key is not None
                          else "no held request")

    def seeded(self, rng: random.Random, *, error_rate: float = 0.05,
               drop_rate: float = 0.0, delay_rate: float = 0.0,
               max_delay: float = 0.5) -> None:
        """Random faults drawn from ``rng`` (see the module docstring)."""
        self._random = _Random(rng, error_rate, drop_rate, delay_rate, max_delay)

    def clear(self) -> None:
        """Remove every rule and the random mode (held requests and watchers stay)."""
        self.rules.clear()
        self._random = None

    # -- used by the server ------------------------------------------------------------------

    def on_request(self, api_key: int, node: int) -> Decision | None:
        for rule in self.rules:
            if rule.topic is None and rule.matches(api_key, node):
                rule.count -= 1 if rule.count > 0 else 0
                self.injected += 1
                return Decision(rule.action, rule.error, rule.seconds, rule.response)
        r = self._random
        if r is None or api_key in (apis.API_VERSIONS, apis.SASL_HANDSHAKE,
                                    apis.SASL_AUTHENTICATE):
            return None
        roll = r.rng.random()
        errors = RETRIABLE.get(api_key)
        if errors and roll < r.error_rate:
            self.injected += 1
            return Decision(ERROR, r.rng.choice(errors))
        roll -= r.error_rate
        if roll < r.drop_rate:
            self.injected += 1
            return Decision(DROP)
        roll -= r.drop_rate
        if roll < r.delay_rate:
            self.injected += 1
            return Decision(DELAY, seconds=r.rng.uniform(0, r.max_delay))
        return None

    def partition_error(self, api_key: int, node: int, topic: str, partition: int) -> int:
        for rule in self.rules:
            if (rule.topic == topic and (rule.partition is None or rule.partition == partition)
                    and rule.matches(api_key, node)):
                rule.count -= 1 if rule.count > 0 else 0
                self.injected += 1
                return rule.error
        return codes.NONE
