# Theory of operation: one FetchSession per broker (KIP-227). It owns the session id, the
# epoch of the next request and what the broker's copy of the session holds: every
# partition it was last sent, with the parameters sent. Inputs: `prepare()` with the
# partitions wanted in the next Fetch (and whether that Fetch names topics by id), then
# `succeeded()` with the response's session id or `failed()`. Output: a `SessionRequest`
# saying which partitions to put in the request, which to list as forgotten and which
# session id and epoch to send; `fetch_request()` renders it as a FetchRequest.
#
# A full request (epoch 0) carries every wanted partition and asks the broker for a new
# session; an incremental one carries only partitions whose parameters changed and forgets
# the ones no longer wanted, since the broker keeps fetching whatever its session holds.
# Any failure starts over with a full request; a session the broker lost (or sessions
# turned off) means session id 0.
"""Fetch sessions: which partitions a Fetch request must carry."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kproto import protocol

if TYPE_CHECKING:
    from kproto.protocol.messages.fetch_request import FetchTopic, ForgottenTopic

__all__ = ["FINAL_EPOCH", "INITIAL_EPOCH", "FetchSession", "PartitionParams", "SessionRequest"]

INITIAL_EPOCH = 0
"""Epoch of a full request that opens a session (closing the one named, if any)."""
FINAL_EPOCH = -1
"""Epoch of a request outside any session."""
_MAX_EPOCH = 2**31 - 1

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class PartitionParams:
    """What a Fetch request says about one partition; a change means it must be resent."""

    fetch_offset: int
    leader_epoch: int
    max_bytes: int
    topic_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class SessionRequest:
    """One request's session decision."""

    session_id: int
    epoch: int
    full: bool
    send: dict[TopicPartition, PartitionParams]
    forget: dict[TopicPartition, PartitionParams]
    wanted: dict[TopicPartition, PartitionParams]
    topic_ids: bool


class FetchSession:
    """The client side of one broker's fetch session."""

    __slots__ = ("enabled", "epoch", "node_id", "sent", "session_id", "topic_ids")

    def __init__(self, node_id: int, enabled: bool = True) -> None:
        self.node_id = node_id
        self.enabled = enabled
        self.session_id = 0
        self.epoch = INITIAL_EPOCH if enabled else FINAL_EPOCH
        self.sent: dict[TopicPartition, PartitionParams] = {}
        self.topic_ids = False

    def __repr__(self) -> str:
        return (f"<FetchSession node={self.node_id} id={self.session_id} epoch={self.epoch} "
                f"partitions={len(self.sent)}>")

    @property
    def incremental(self) -> bool:
        """Whether the next request can be incremental."""
        return self.enabled and self.session_id != 0 and self.epoch > INITIAL_EPOCH

    def prepare(self, wanted: dict[TopicPartition, PartitionParams],
                topic_ids: bool) -> SessionRequest:
        """Decide what the next request carries, given every partition it should fetch.

        ``wanted`` is kept, not copied (as ``send`` of a full request and as ``sent`` once
        answered): the caller builds a fresh dict per Fetch and nobody changes it after.
        Not copying it twice per Fetch, with the identity check below, took this method
        from 0.153 s to 0.104 s over the 21,600 Fetches of the simulator's 30-minute mixed
        run (seed 1, cProfile)."""
        if not self.enabled:
            return SessionRequest(0, FINAL_EPOCH, True, wanted, {}, wanted, topic_ids)
        if not self.incremental or topic_ids != self.topic_ids:
            # A session opened with topic names cannot continue with ids, or the reverse.
            epoch = INITIAL_EPOCH
            return SessionRequest(self.session_id, epoch, True, wanted, {}, wanted,
                                  topic_ids)
        sent = self.sent
        # An idle partition's parameters are usually the very object sent last time (the
        # fetcher reuses them while unchanged), so identity settles most comparisons.
        send: dict[TopicPartition, PartitionParams] = {}
        for tp, p in wanted.items():
            q = sent.get(tp)
            if q is not p and q != p:
                send[tp] = p
        forget = {tp: p for tp, p in sent.items() if tp not in wanted}
        return SessionRequest(self.session_id, self.epoch, False, send, forget, wanted,
                              topic_ids)

    def succeeded(self, request: SessionRequest, session_id: int) -> None:
        """The broker answered ``request`` without a session error."""
        if not self.enabled:
            return
        if request.full:
            if session_id:
                self.session_id = session_id
                self.epoch = 1
                self.sent = request.wanted  # not copied: see prepare
                self.topic_ids = request.topic_ids
            else:
                # The broker made no session (it may have none to spare): stay full.
                self.session_id = 0
                self.epoch = INITIAL_EPOCH
                self.sent = {}
            return
        if request.session_id != self.session_id or request.epoch != self.epoch:
            return  # a reset happened while this request was out
        self.epoch = 1 if self.epoch >= _MAX_EPOCH else self.epoch + 1
        self.sent = request.wanted  # not copied: see prepare

    def failed(self, session_lost: bool = False) -> None:
        """The request failed: start over with a full request.

        ``session_lost`` (FETCH_SESSION_ID_NOT_FOUND) forgets the id; otherwise the next full
        request names it, so the broker closes it instead of keeping it until it expires.
        """
        if not self.enabled:
            return
        if session_lost:
            self.session_id = 0
        self.epoch = INITIAL_EPOCH
        self.sent = {}


def fetch_request(request: SessionRequest, *, max_wait_ms: int, min_bytes: int,
                  max_bytes: int, isolation_level: int, rack: str) -> Any:
    """Render ``request`` as a FetchRequest (topics grouped in first-seen order)."""
    from kproto.protocol.messages.fetch_request import FetchPartition, FetchTopic, ForgottenTopic
    topics: dict[str, FetchTopic] = {}
    for (name, partition), p in request.send.items():
        entry = topics.get(name)
        if entry is None:
            entry = topics[name] = FetchTopic(topic=name, topic_id=p.topic_id)
        entry.partitions.append(FetchPartition(
            partition=partition, current_leader_epoch=p.leader_epoch,
            fetch_offset=p.fetch_offset, log_start_offset=-1,
            partition_max_bytes=p.max_bytes))
    forgotten: dict[str, ForgottenTopic] = {}
    for (name, partition), p in request.forget.items():
        gone = forgotten.get(name)
        if gone is None:
            gone = forgotten[name] = ForgottenTopic(topic=name, topic_id=p.topic_id)
        gone.partitions.append(partition)
    return protocol.FetchRequest(
        replica_id=-1, max_wait_ms=max_wait_ms, min_bytes=min_bytes, max_bytes=max_bytes,
        isolation_level=isolation_level, session_id=request.session_id,
        session_epoch=request.epoch, topics=list(topics.values()),
        forgotten_topics_data=list(forgotten.values()), rack_id=rack)
