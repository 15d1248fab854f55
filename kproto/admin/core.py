"""The admin's state machine: each operation routed where Kafka requires, retried within one
deadline, reported per resource.

Theory of operation
-------------------
:class:`AdminCore` sits on a :class:`kproto.engine.client.ClientCore`. Every operation is a
:class:`_Call` over a set of *keys* (topics, partitions, groups, config resources, brokers)
with one deadline (``timeout``, else the ``request_timeout`` setting). An attempt asks the
call's ``route`` where each pending key goes -- a broker id, or ``ANY`` broker -- which may
first need fresh metadata (partition leaders, the controller, the brokers) or a
FindCoordinator (groups); then it sends one request per destination carrying that
destination's keys (so partitions are batched per leader) and ``parse`` turns each answer into
an outcome per key: a value, or an error.

A key whose outcome is a retriable error (NOT_CONTROLLER, NOT_COORDINATOR,
COORDINATOR_LOAD_IN_PROGRESS, a leader change, a lost connection, a request timeout) stays
pending; the rest settle. When an attempt is over and keys are pending, the call retries
after the engine's backoff, with the routes it learnt dropped (metadata and coordinators are
looked up again), as long as the deadline allows; past it, each pending key settles with the
last error it saw. A retry that finds its work done (a topic or group already deleted after
an attempt whose answer was lost) counts as a success. The call then completes its token with ``finish(outcomes)``: a typed value
with an entry per key (``kproto.admin.types``), so one failed topic never hides the others.

Inputs: the user operations (each returns a token) and the engine's callbacks. Outputs: the
requests it sends through the engine and one ``OperationCompleted`` per operation (an
``OperationFailed`` only when the operation as a whole cannot run).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from kproto import protocol
from kproto.admin import types as t
from kproto.admin import validate as v
from kproto.admin.errors import InvalidArgumentError
from kproto.config import Config
from kproto.engine.client import ClientCore
from kproto.engine.coordinators import GROUP_KEY, TXN_KEY, find_coordinator
from kproto.errors import (
    BrokerConnectionError,
    ClientTimeoutError,
    ClosedError,
    CoordinatorLoadInProgressError,
    CoordinatorNotAvailableError,
    GroupIdNotFoundError,
    KafkaError,
    KprotoError,
    NotControllerError,
    RequestTimedOutError,
    UnknownServerError,
    UnknownTopicOrPartitionError,
    error_for_code,
    is_retriable,
)
from kproto.protocol import apis
from kproto.retry import retry_backoff

__all__ = ["ANY", "AdminCore"]

log = logging.getLogger("kproto.admin")

K = TypeVar("K", bound=Hashable)

ANY = -(1 << 30)
"""A destination: whichever broker the engine finds least loaded."""

_UNKNOWN_TOPIC_TRIES = 6
"""A topic metadata calls unknown is looked up this many times (about three seconds with the
default backoff: a topic just created may not have reached every broker yet), then reported
unknown."""

Outcome = Any
"""A key's value, or a KprotoError."""

Routes = dict[int, list[Any]]
Route = Callable[[list[Any], float, Callable[[Routes, dict[Any, KprotoError]], None]], None]
"""``route(keys, now, then)``: calls ``then(destinations, failed)``."""


def _err(code: int, message: str | None = None) -> KafkaError:
    return error_for_code(code)(message)


def _ms(seconds: float) -> int:
    return max(0, int(seconds * 1000))


class _Call(Generic[K]):
    """One operation in flight."""

    def __init__(self, core: AdminCore, token: int, keys: Iterable[K], deadline: float,
                 route: Route, build: Callable[[list[K], int, float], Any], api_key: int,
                 parse: Callable[[Any, list[K]], dict[K, Outcome]],
                 finish: Callable[[dict[K, Outcome]], Any], min_version: int | None,
                 done_already: type[KprotoError] | None) -> None:
        self.core = core
        self.token = token
        self.pending: dict[K, None] = dict.fromkeys(keys)
        self.order = list(self.pending)
        self.outcomes: dict[K, Outcome] = {}
        self.last: dict[K, KprotoError] = {}
        self.unknown: dict[K, int] = {}
        self.deadline = deadline
        self.route = route
        self.build = build
        self.api_key = api_key
        self.parse = parse
        self.finish = finish
        self.failures = 0
        self.in_flight = 0
        self.min_version = min_version
        self.done_already = done_already
        """The error a retry gets when an attempt that timed out or lost its connection was
        carried out after all (deleting a topic already deleted): then it is a success."""
        self.retry_unknown = route == core._route_leaders
        """Only metadata may be behind a topic just created; a controller's word is final."""

    # -- one attempt -------------------------------------------------------------------

    def attempt(self, now: float) -> None:
        if self.core.closed:
            self.core.client.fail(self.token, ClosedError("the admin was closed"))
            return
        self.in_flight = 1  # the routing itself
        self.route(list(self.pending), now, self._routed)

    def _routed(self, routes: Routes, failed: dict[Any, KprotoError]) -> None:
        now = self.core.client.now
        cluster = self.core.client.cluster
        if any(node != ANY and node not in cluster.brokers for node in routes):
            # A broker named by a coordinator lookup or a config resource, which the engine
            # cannot reach by id before metadata lists it.
            def known(resp: Any, err: BaseException | None) -> None:
                self._send(routes, failed)
            self.core.client.fetch_metadata([], now, known)
            return
        self._send(routes, failed)

    def _send(self, routes: Routes, failed: dict[Any, KprotoError]) -> None:
        now = self.core.client.now
        for key, error in failed.items():
            self._outcome(key, error)
        for node, keys in routes.items():
            if not keys:
                continue
            self.in_flight += 1
            remaining = self.deadline - now
            timeout = max(0.001, min(self.core.config.request_timeout, remaining))

            def build(version: int, keys: list[K] = keys) -> Any:
                return self.build(keys, version, max(0.0, self.deadline - self.core.client.now))

            def done(resp: Any, err: BaseException | None, keys: list[K] = keys,
                     node: int = node) -> None:
                self._answered(node, keys, resp, err)

            if node == ANY:
                self.core.client.send_any(self.api_key, build, done, now, timeout=timeout,
                                          min_version=self.min_version)
            else:
                self.core.client.send(node, self.api_key, build, done, now, timeout=timeout,
                                      min_version=self.min_version)
        self._step_done()

    def _answered(self, node: int, keys: list[K], resp: Any, err: BaseException | None) -> None:
        if err is None:
            try:
                outcomes = self.parse(resp, keys)
            except Exception as exc:  # a response the parser did not expect
                log.warning("admin: could not read the answer of broker %d: %r", node, exc)
                outcomes = {k: UnknownServerError(f"unreadable answer: {exc!r}") for k in keys}
            for key in keys:
                self._outcome(key, outcomes.get(key, UnknownServerError(
                    f"broker {node} did not answer for {key!r}")))
        else:
            error = err if isinstance(err, KprotoError) else KprotoError(str(err))
            for key in keys:
                self._outcome(key, error)
            if node != ANY and isinstance(err, (BrokerConnectionError, ClientTimeoutError)):
                self.core.forget_routes()
        self._step_done()

    def _outcome(self, key: K, outcome: Outcome) -> None:
        if key not in self.pending:
            return
        if self.done_already is not None and isinstance(outcome, self.done_already) \
                and isinstance(self.last.get(key), (BrokerConnectionError, ClientTimeoutError,
                                                    RequestTimedOutError)):
            outcome = None
        if isinstance(outcome, KprotoError):
            retriable = is_retriable(outcome)
            if isinstance(outcome, UnknownTopicOrPartitionError):
                self.unknown[key] = self.unknown.get(key, 0) + 1
                retriable = self.retry_unknown and self.unknown[key] < _UNKNOWN_TOPIC_TRIES
            if retriable:
                self.last[key] = outcome
                if not isinstance(outcome, CoordinatorLoadInProgressError):
                    self.core.forget_routes()  # the leader, controller or coordinator moved
                return
        del self.pending[key]
        self.outcomes[key] = outcome

    def _step_done(self) -> None:
        self.in_flight -= 1
        if self.in_flight > 0:
            return
        core = self.core
        now = core.client.now
        if not self.pending:
            self._settle()
            return
        self.failures += 1
        delay = retry_backoff(core.config, core.client.rng, self.failures)
        if core.closed or now + delay >= self.deadline:
            for key in list(self.pending):
                error = self.last.get(key) or ClientTimeoutError("no answer before the deadline")
                self.outcomes[key] = error
            self.pending.clear()
            self._settle()
            return
        log.debug("admin: retrying %d resources in %.3fs", len(self.pending), delay)
        core.client.timers.call_at(now + delay, self.attempt)

    def _settle(self) -> None:
        """Complete the token with ``finish(outcomes)``; an operation about one resource
        whose ``finish`` gives an error fails with it."""
        value = self.finish({k: self.outcomes[k] for k in self.order if k in self.outcomes})
        if isinstance(value, BaseException):
            self.core.client.fail(self.token, value)
        else:
            self.core.client.complete(self.token, value)


class AdminCore:
    """Cluster administration over an engine (see the module's theory of operation)."""

    def __init__(self, client: ClientCore, config: Config | None = None) -> None:
        self.client = client
        self.config = config or client.config
        self.closed = False
        self._coordinators: dict[str, int] = {}
        self._fresh = False
        """True while the engine's metadata came from this admin's latest lookup."""

    def close(self) -> None:
        self.closed = True

    def forget_routes(self) -> None:
        """A leader, controller or coordinator moved: look them up again."""
        self._coordinators.clear()
        self._fresh = False

    # -- the call machinery ------------------------------------------------------------

    def _deadline(self, now: float, timeout: float | None) -> float:
        return now + (self.config.request_timeout if timeout is None else timeout)

    def _start(self, now: float, timeout: float | None, keys: Iterable[K], route: Route,
               api_key: int, build: Callable[[list[K], int, float], Any],
               parse: Callable[[Any, list[K]], dict[K, Outcome]],
               finish: Callable[[dict[K, Outcome]], Any], *, token: int | None = None,
               min_version: int | None = None,
               done_already: type[KprotoError] | None = None) -> int:
        if token is None:
            token = self.client.new_token()
        call: _Call[K] = _Call(self, token, keys, self._deadline(now, timeout), route, build,
                               api_key, parse, finish, min_version, done_already)
        if not call.pending:
            call._settle()
        else:
            call.attempt(now)
        return token

    # -- routes --------------------------------------------------------------------------

    def _route_any(self, keys: list[Any], now: float,
                   then: Callable[[Routes, dict[Any, KprotoError]], None]) -> None:
        then({ANY: keys}, {})

    def _with_metadata(self, topics: list[str] | None, now: float,
                       then: Callable[[Any, KprotoError | None], None]) -> None:
        def done(resp: Any, err: BaseException | None) -> None:
            if err is not None:
                then(None, err if isinstance(err, KprotoError) else KprotoError(str(err)))
            else:
                self._fresh = True
                then(resp, None)
        self.client.fetch_metadata(topics, now, done)

    def _route_controller(self, keys: list[Any], now: float,
                          then: Callable[[Routes, dict[Any, KprotoError]], None]) -> None:
        """The controller as metadata names it (on KRaft a broker, which forwards)."""
        cluster = self.client.cluster
        if self._fresh and cluster.controller_id in cluster.brokers:
            then({cluster.controller_id: keys}, {})
            return

        def got(resp: Any, err: KprotoError | None) -> None:
            if err is not None:
                then({}, dict.fromkeys(keys, err))
            elif cluster.controller_id in cluster.brokers:
                then({cluster.controller_id: keys}, {})
            else:
                then({ANY: keys}, {})
        self._with_metadata([], now, got)

    def _route_leaders(self, keys: list[tuple[str, int]], now: float,
                       then: Callable[[Routes, dict[Any, KprotoError]], None]) -> None:
        """Each partition to its leader, batched per broker."""
        topics = sorted({k[0] for k in keys})

        def got(resp: Any, err: KprotoError | None) -> None:
            if err is not None:
                then({}, dict.fromkeys(keys, err))
                return
            answered = {tm.name: tm for tm in resp.topics}
            routes: Routes = {}
            failed: dict[Any, KprotoError] = {}
            for key in keys:
                topic, partition = key
                tm = answered.get(topic)
                if tm is not None and tm.error_code and not tm.partitions:
                    failed[key] = _err(tm.error_code, f"topic {topic!r}")
                    continue
                info = self.client.cluster.partition(topic, partition)
                if info is None:
                    failed[key] = UnknownTopicOrPartitionError(
                        f"{topic}[{partition}] is not in the metadata")
                elif info.leader < 0:
                    failed[key] = _err(info.error_code or 5, f"{topic}[{partition}] has no "
                                                             "leader")  # LEADER_NOT_AVAILABLE
                else:
                    routes.setdefault(info.leader, []).append(key)
            then(routes, failed)
        self._with_metadata(topics, now, got)

    def _route_brokers(self, keys: list[int], now: float,
                       then: Callable[[Routes, dict[Any, KprotoError]], None]) -> None:
        """A key per broker id: each to its own broker."""
        then({k: [k] for k in keys}, {})

    def _route_coordinators(self, keys: list[Any], now: float,
                            then: Callable[[Routes, dict[Any, KprotoError]], None],
                            group_of: Callable[[Any], str] = lambda k: str(k)) -> None:
        """Each key to its group's coordinator (FindCoordinator, remembered until it moves)."""
        routes: Routes = {}
        failed: dict[Any, KprotoError] = {}
        missing = sorted({group_of(k) for k in keys} - set(self._coordinators))
        waiting = [len(missing)]

        def finish() -> None:
            for key in keys:
                node = self._coordinators.get(group_of(key))
                if node is not None:
                    routes.setdefault(node, []).append(key)
                elif key not in failed:
                    failed[key] = CoordinatorNotAvailableError(
                        f"no coordinator for group {group_of(key)!r}")
            then(routes, failed)

        if not missing:
            finish()
            return
        for group in missing:
            def found(now: float, node: int | None, err: BaseException | None,
                      group: str = group) -> None:
                if node is not None:
                    self._coordinators[group] = node
                else:
                    error = err if isinstance(err, KprotoError) else KprotoError(str(err))
                    for key in keys:
                        if group_of(key) == group:
                            failed[key] = error
                waiting[0] -= 1
                if waiting[0] == 0:
                    finish()
            find_coordinator(self.client, GROUP_KEY, group, now, found)

    # == topics ==========================================================================

    def create_topics(self, topics: Mapping[str, t.TopicDetail], validate_only: bool,
                      now: float, timeout: float | None = None) -> int:
        """Completes with ``{name: CreateTopicResult}``."""
        for name, detail in topics.items():
            v.check_topic_name(name, "topic")
            v.check_topic_detail(detail, f"topics[{name!r}]")
        from kproto.protocol.messages import create_topics_request as ct

        def build(keys: list[str], version: int, left: float) -> Any:
            entries = []
            for name in keys:
                d = topics[name]
                assignments = [ct.CreatableReplicaAssignment(partition_index=p,
                                                              broker_ids=list(ids))
                               for p, ids in sorted((d.replica_assignment or {}).items())]
                entries.append(ct.CreatableTopic(
                    name=name,
                    num_partitions=-1 if assignments else d.num_partitions,
                    replication_factor=-1 if assignments else d.replication_factor,
                    assignments=assignments,
                    configs=[ct.CreatableTopicConfig(name=k, value=val)
                             for k, val in d.config_entries.items()]))
            return protocol.CreateTopicsRequest(topics=entries, timeout_ms=_ms(left),
                                                validate_only=validate_only)

        def parse(resp: Any, keys: list[str]) -> dict[str, Outcome]:
            out: dict[str, Outcome] = {}
            for r in resp.topics:
                if r.error_code:
                    out[r.name] = _err(r.error_code, r.error_message)
                else:
                    out[r.name] = t.CreateTopicResult(
                        r.name, None, getattr(r, "topic_id", None),
                        getattr(r, "num_partitions", -1), getattr(r, "replication_factor", -1))
            return out

        def finish(outcomes: dict[str, Outcome]) -> dict[str, t.CreateTopicResult]:
            return {name: o if isinstance(o, t.CreateTopicResult)
                    else t.CreateTopicResult(name, o) for name, o in outcomes.items()}

        return self._start(now, timeout, list(topics), self._route_controller,
                           apis.CREATE_TOPICS, build, parse, finish)

    def delete_topics(self, topics: Iterable[str], now: float,
                      timeout: float | None = None) -> int:
        """Completes with ``{name: DeleteTopicResult}``."""
        names = v.check_topic_names(topics)

        def build(keys: list[str], version: int, left: float) -> Any:
            from kproto.protocol.messages import delete_topics_request as dt
            if version >= 6:
                return protocol.DeleteTopicsRequest(
                    topics=[dt.DeleteTopicState(name=n) for n in keys], timeout_ms=_ms(left))
            return protocol.DeleteTopicsRequest(topic_names=keys, timeout_ms=_ms(left))

        def parse(resp: Any, keys: list[str]) -> dict[str, Outcome]:
            return {r.name: _err(r.error_code, getattr(r, "error_message", None))
                    if r.error_code else None for r in resp.responses}

        def finish(outcomes: dict[str, Outcome]) -> dict[str, t.DeleteTopicResult]:
            return {n: t.DeleteTopicResult(n, o) for n, o in outcomes.items()}

        return self._start(now, timeout, names, self._route_controller, apis.DELETE_TOPICS,
                           build, parse, finish, done_already=UnknownTopicOrPartitionError)

    def create_partitions(self, topic: str, count: int,
                          assignment: list[list[int]] | None, validate_only: bool,
                          now: float, timeout: float | None = None) -> int:
        """Raise ``topic``'s partition count to ``count``; ``assignment`` lists the replicas
        of each new partition. Completes with a CreatePartitionsResult."""
        v.check_topic_name(topic)
        v.check_partition_count(count)
        if assignment is not None:
            v.check_assignment(dict(enumerate(assignment)), "assignment")

        def build(keys: list[str], version: int, left: float) -> Any:
            from kproto.protocol.messages import create_partitions_request as cp
            return protocol.CreatePartitionsRequest(
                topics=[cp.CreatePartitionsTopic(
                    name=topic, count=count,
                    assignments=None if assignment is None else [
                        cp.CreatePartitionsAssignment(broker_ids=list(ids))
                        for ids in assignment])],
                timeout_ms=_ms(left), validate_only=validate_only)

        def parse(resp: Any, keys: list[str]) -> dict[str, Outcome]:
            return {r.name: _err(r.error_code, r.error_message) if r.error_code else None
                    for r in resp.results}

        return self._start(now, timeout, [topic], self._route_controller,
                           apis.CREATE_PARTITIONS, build, parse,
                           lambda o: t.CreatePartitionsResult(topic, o.get(topic)))

    def describe_topics(self, topics: Iterable[str] | None, now: float,
                        timeout: float | None = None) -> int:
        """Metadata of ``topics`` (None: every topic); completes with
        ``{name: TopicMetadata}`` (an unknown topic has its error)."""
        names = None if topics is None else v.check_topic_names(topics)
        token = self.client.new_token()
        deadline = self._deadline(now, timeout)
        failures = [0]

        def done(resp: Any, err: BaseException | None) -> None:
            if err is not None:
                failures[0] += 1
                delay = retry_backoff(self.config, self.client.rng, failures[0])
                if is_retriable(err) and self.client.now + delay < deadline:
                    self.client.timers.call_at(self.client.now + delay, ask)
                else:
                    self.client.fail(token, err)
                return
            out: dict[str, t.TopicMetadata] = {}
            for tm in resp.topics:
                if tm.name is None:
                    continue
                error = _err(tm.error_code) if tm.error_code else None
                parts = tuple(sorted((t.PartitionMetadata(
                    p.partition_index, p.leader_id, getattr(p, "leader_epoch", -1),
                    tuple(p.replica_nodes), tuple(p.isr_nodes),
                    tuple(getattr(p, "offline_replicas", ())),
                    _err(p.error_code) if p.error_code else None) for p in tm.partitions),
                    key=lambda p: p.id))
                topic_id = getattr(tm, "topic_id", None)
                out[tm.name] = t.TopicMetadata(tm.name, error, topic_id if topic_id and topic_id.int else None,
                                               getattr(tm, "is_internal", False), parts)
            self.client.complete(token, out)

        def ask(now: float) -> None:
            self.client.fetch_metadata(names, now, done, timeout=max(0.001, deadline - now))
        ask(now)
        return token

    # == configs =========================================================================

    @staticmethod
    def _config_route(resource: t.ConfigResource) -> int:
        """Broker and broker-logger resources go to that broker; the rest to any broker."""
        if resource.type in (t.ConfigResourceType.BROKER, t.ConfigResourceType.BROKER_LOGGER) \
                and resource.name:
            return int(resource.name)
        return ANY

    def _route_configs(self, keys: list[t.ConfigResource], now: float,
                       then: Callable[[Routes, dict[Any, KprotoError]], None]) -> None:
        routes: Routes = {}
        for key in keys:
            routes.setdefault(self._config_route(key), []).append(key)
        then(routes, {})

    @staticmethod
    def _check_resource(resource: object, field: str) -> t.ConfigResource:
        if not isinstance(resource, t.ConfigResource):
            raise InvalidArgumentError(field, "give a ConfigResource")
        if resource.type == t.ConfigResourceType.TOPIC:
            v.check_topic_name(resource.name, f"{field}.name")
        elif resource.type in (t.ConfigResourceType.BROKER,
                               t.ConfigResourceType.BROKER_LOGGER):
            if resource.name and not resource.name.isdigit():
                raise InvalidArgumentError(f"{field}.name", "a broker resource is named by "
                                             f"the broker's id, not {resource.name!r}")
            if resource.type == t.ConfigResourceType.BROKER_LOGGER and not resource.name:
                raise InvalidArgumentError(f"{field}.name", "a broker logger resource "
                                             "needs the broker's id")
        elif not isinstance(resource.name, str):
            raise InvalidArgumentError(f"{field}.name", "a resource name is a str")
        return resource

    @staticmethod
    def _resource_key(r: Any) -> tuple[int, str]:
        return int(r.resource_type), r.resource_name

    def describe_configs(self, resources: list[t.ConfigResource], now: float,
                         timeout: float | None = None, include_synonyms: bool = False) -> int:
        """Completes with ``[DescribeConfigsResult]``, in the order given."""
        for i, r in enumerate(resources):
            self._check_resource(r, f"resources[{i}]")

        def build(keys: list[t.ConfigResource], version: int, left: float) -> Any:
            from kproto.protocol.messages import describe_configs_request as dc
            return protocol.DescribeConfigsRequest(
                resources=[dc.DescribeConfigsResource(
                    resource_type=int(r.type), resource_name=r.name,
                    configuration_keys=None if r.config_names is None
                    else list(r.config_names)) for r in keys],
                include_synonyms=include_synonyms)

        def parse(resp: Any, keys: list[t.ConfigResource]) -> dict[Any, Outcome]:
            by = {(int(k.type), k.name): k for k in keys}
            out: dict[Any, Outcome] = {}
            for r in resp.results:
                key = by.get(self._resource_key(r))
                if key is None:
                    continue
                if r.error_code:
                    out[key] = _err(r.error_code, r.error_message)
                    continue
                out[key] = tuple(t.ConfigEntry(
                    c.name, c.value, c.read_only,
                    getattr(c, "is_default", False) or c.config_source == 5,
                    t.ConfigSource(c.config_source) if c.config_source in
                    t.ConfigSource._value2member_map_ else t.ConfigSource.UNKNOWN,
                    c.is_sensitive,
                    tuple(t.ConfigSynonym(s.name, s.value, t.ConfigSource(s.source)
                                          if s.source in t.ConfigSource._value2member_map_
                                          else t.ConfigSource.UNKNOWN)
                          for s in (getattr(c, "synonyms", None) or ())))
                    for c in r.configs)
            return out

        def finish(outcomes: dict[t.ConfigResource, Outcome]) -> list[t.DescribeConfigsResult]:
            return [t.DescribeConfigsResult(r, o) if isinstance(o, KprotoError)
                    else t.DescribeConfigsResult(r, None, o) for r, o in
                    ((r, outcomes[r]) for r in resources)]

        return self._start(now, timeout, resources, self._route_configs,
                           apis.DESCRIBE_CONFIGS, build, parse, finish)

    def alter_configs(self, resources: Mapping[t.ConfigResource, Mapping[str, str | None]],
                      validate_only: bool, now: float, timeout: float | None = None) -> int:
        """Replace each resource's dynamic configs with the ones given (AlterConfigs);
        completes with ``[AlterConfigsResult]``."""
        for i, r in enumerate(resources):
            self._check_resource(r, f"resources[{i}]")
            for name in resources[r]:
                if not isinstance(name, str) or not name:
                    raise InvalidArgumentError(f"resources[{i}].entries",
                                                 "config names are non-empty strs")

        def build(keys: list[t.ConfigResource], version: int, left: float) -> Any:
            from kproto.protocol.messages import alter_configs_request as ac
            return protocol.AlterConfigsRequest(
                resources=[ac.AlterConfigsResource(
                    resource_type=int(r.type), resource_name=r.name,
                    configs=[ac.AlterableConfig(name=n, value=val)
                             for n, val in resources[r].items()]) for r in keys],
                validate_only=validate_only)

        return self._start(now, timeout, list(resources), self._route_configs,
                           apis.ALTER_CONFIGS, build, self._parse_alter,
                           self._finish_alter(list(resources)))

    def incremental_alter_configs(
            self, resources: Mapping[t.ConfigResource,
                                     Mapping[str, t.IncrementalAlterConfigsEntry]],
            validate_only: bool, now: float, timeout: float | None = None) -> int:
        """Apply each change (set, delete, append, subtract) to each resource;
        completes with ``[AlterConfigsResult]``."""
        for i, r in enumerate(resources):
            self._check_resource(r, f"resources[{i}]")
            v.check_incremental_entries(resources[r], f"resources[{i}].entries", kind=r.type)

        def build(keys: list[t.ConfigResource], version: int, left: float) -> Any:
            from kproto.protocol.messages import incremental_alter_configs_request as ia
            return protocol.IncrementalAlterConfigsRequest(
                resources=[ia.AlterConfigsResource(
                    resource_type=int(r.type), resource_name=r.name,
                    configs=[ia.AlterableConfig(name=n, config_operation=int(e.operation),
                                                value=e.value)
                             for n, e in resources[r].items()]) for r in keys],
                validate_only=validate_only)

        return self._start(now, timeout, list(resources), self._route_configs,
                           apis.INCREMENTAL_ALTER_CONFIGS, build, self._parse_alter,
                           self._finish_alter(list(resources)))

    def _parse_alter(self, resp: Any, keys: list[t.ConfigResource]) -> dict[Any, Outcome]:
        by = {(int(k.type), k.name): k for k in keys}
        return {by[self._resource_key(r)]: _err(r.error_code, r.error_message)
                if r.error_code else None
                for r in resp.responses if self._resource_key(r) in by}

    @staticmethod
    def _finish_alter(order: list[t.ConfigResource]
                      ) -> Callable[[dict[Any, Outcome]], list[t.AlterConfigsResult]]:
        return lambda outcomes: [t.AlterConfigsResult(r, outcomes[r]) for r in order]

    # == partitions: records and offsets ================================================

    def delete_records(self, offsets: Mapping[tuple[str, int], int], now: float,
                       timeout: float | None = None) -> int:
        """Delete the records before each offset (-1: the high watermark), batched per
        leader; completes with ``{(topic, partition): DeletedRecords}``."""
        for (topic, partition), offset in offsets.items():
            v.check_topic_name(topic, "offsets")
            v.check_partition(partition, f"offsets[{topic!r}]")
            v.check_offset(offset, f"offsets[({topic!r}, {partition})]", minimum=-1)

        def build(keys: list[tuple[str, int]], version: int, left: float) -> Any:
            from kproto.protocol.messages import delete_records_request as dr
            by: dict[str, list[Any]] = {}
            for topic, partition in keys:
                by.setdefault(topic, []).append(dr.DeleteRecordsPartition(
                    partition_index=partition, offset=offsets[(topic, partition)]))
            return protocol.DeleteRecordsRequest(
                topics=[dr.DeleteRecordsTopic(name=n, partitions=ps) for n, ps in by.items()],
                timeout_ms=_ms(left))

        def parse(resp: Any, keys: list[tuple[str, int]]) -> dict[Any, Outcome]:
            return {(tr.name, p.partition_index): _err(p.error_code) if p.error_code
                    else p.low_watermark for tr in resp.topics for p in tr.partitions}

        def finish(outcomes: dict[Any, Outcome]) -> dict[tuple[str, int], t.DeletedRecords]:
            return {k: t.DeletedRecords(k[0], k[1], o) if isinstance(o, KprotoError)
                    else t.DeletedRecords(k[0], k[1], None, o) for k, o in outcomes.items()}

        return self._start(now, timeout, list(offsets), self._route_leaders,
                           apis.DELETE_RECORDS, build, parse, finish)

    def list_offsets(self, specs: Mapping[tuple[str, int], int], now: float,
                     timeout: float | None = None, isolation_level: int = 0) -> int:
        """Look up an offset per partition (OffsetSpec.EARLIEST, LATEST, MAX_TIMESTAMP or a
        timestamp), batched per leader; completes with ``{(topic, partition):
        ListOffsetsResultInfo}``."""
        for (topic, partition), spec in specs.items():
            v.check_topic_name(topic, "specs")
            v.check_partition(partition, f"specs[{topic!r}]")
            v.check_offset(spec, f"specs[({topic!r}, {partition})]", minimum=-3)
        need_max = any(s == t.OffsetSpec.MAX_TIMESTAMP for s in specs.values())

        def build(keys: list[tuple[str, int]], version: int, left: float) -> Any:
            from kproto.protocol.messages import list_offsets_request as lo
            by: dict[str, list[Any]] = {}
            for topic, partition in keys:
                by.setdefault(topic, []).append(lo.ListOffsetsPartition(
                    partition_index=partition, current_leader_epoch=-1,
                    timestamp=specs[(topic, partition)], max_num_offsets=1))
            return protocol.ListOffsetsRequest(
                replica_id=-1, isolation_level=isolation_level,
                topics=[lo.ListOffsetsTopic(name=n, partitions=ps) for n, ps in by.items()],
                timeout_ms=_ms(left))

        def parse(resp: Any, keys: list[tuple[str, int]]) -> dict[Any, Outcome]:
            out: dict[Any, Outcome] = {}
            for tr in resp.topics:
                for p in tr.partitions:
                    key = (tr.name, p.partition_index)
                    if p.error_code:
                        out[key] = _err(p.error_code, f"{tr.name}[{p.partition_index}]")
                    else:
                        offset = p.offset if p.offset >= 0 or not p.old_style_offsets \
                            else p.old_style_offsets[0]
                        out[key] = (offset, p.timestamp, getattr(p, "leader_epoch", -1))
            return out

        def finish(outcomes: dict[Any, Outcome]
                   ) -> dict[tuple[str, int], t.ListOffsetsResultInfo]:
            return {k: t.ListOffsetsResultInfo(k[0], k[1], o) if isinstance(o, KprotoError)
                    else t.ListOffsetsResultInfo(k[0], k[1], None, *o)
                    for k, o in outcomes.items()}

        # MAX_TIMESTAMP needs ListOffsets v7 (Kafka 3.0+).
        return self._start(now, timeout, list(specs), self._route_leaders, apis.LIST_OFFSETS,
                           build, parse, finish, min_version=7 if need_max else None)

    # == cluster =========================================================================

    def describe_cluster(self, now: float, timeout: float | None = None) -> int:
        """Completes with a ClusterDescription (DescribeCluster: Kafka 2.8+)."""
        def build(keys: list[str], version: int, left: float) -> Any:
            return protocol.DescribeClusterRequest(include_cluster_authorized_operations=False)

        def parse(resp: Any, keys: list[str]) -> dict[str, Outcome]:
            if resp.error_code:
                return {"cluster": _err(resp.error_code, resp.error_message)}
            return {"cluster": t.ClusterDescription(
                resp.cluster_id, resp.controller_id,
                tuple(sorted((t.BrokerInfo(b.broker_id, b.host, b.port, b.rack)
                              for b in resp.brokers), key=lambda b: b.node_id)))}

        def finish(outcomes: dict[str, Outcome]) -> Any:
            return outcomes["cluster"]

        return self._start(now, timeout, ["cluster"], self._route_any, apis.DESCRIBE_CLUSTER,
                           build, parse, finish)

    def controller(self, now: float, timeout: float | None = None) -> int:
        """Completes with the controller's BrokerInfo as metadata names it (on KRaft, a
        broker that forwards controller requests)."""
        token = self.client.new_token()

        def got(resp: Any, err: KprotoError | None) -> None:
            if err is not None:
                self.client.fail(token, err)
                return
            broker = self.client.cluster.broker(self.client.cluster.controller_id)
            if broker is None:
                self.client.fail(token, NotControllerError("the metadata names no controller"))
            else:
                self.client.complete(token, t.BrokerInfo(broker.node_id, broker.host,
                                                         broker.port, broker.rack))
        self._with_metadata([], now, got)
        return token

    # == groups ==========================================================================

    def coordinator(self, group: str, now: float, timeout: float | None = None) -> int:
        """Completes with the group coordinator's BrokerInfo."""
        v.check_group_id(group)
        token = self.client.new_token()
        deadline = self._deadline(now, timeout)
        failures = [0]

        def found(now: float, node: int | None, err: BaseException | None) -> None:
            if node is None:
                failures[0] += 1
                delay = retry_backoff(self.config, self.client.rng, failures[0])
                if err is not None and is_retriable(err) and now + delay < deadline:
                    self.client.timers.call_at(now + delay, ask)
                else:
                    self.client.fail(token, err or CoordinatorNotAvailableError(group))
                return
            self._coordinators[group] = node

            def known(resp: Any, err: KprotoError | None) -> None:
                broker = self.client.cluster.broker(node)
                if broker is None:
                    self.client.complete(token, t.BrokerInfo(node, "", -1))
                else:
                    self.client.complete(token, t.BrokerInfo(node, broker.host, broker.port,
                                                             broker.rack))
            if self.client.cluster.broker(node) is None:
                self._with_metadata([], now, known)
            else:
                known(None, None)

        def ask(now: float) -> None:
            find_coordinator(self.client, GROUP_KEY, group, now, found)
        ask(now)
        return token

    def list_consumer_groups(self, now: float, timeout: float | None = None,
                             states: Iterable[str] = ()) -> int:
        """ListGroups on every broker; completes with a ListConsumerGroupsResult."""
        token = self.client.new_token()
        wanted = list(states)

        def got(resp: Any, err: KprotoError | None) -> None:
            if err is not None:
                self.client.fail(token, err)
                return
            brokers = sorted(self.client.cluster.brokers)

            def build(keys: list[int], version: int, left: float) -> Any:
                return protocol.ListGroupsRequest(states_filter=wanted)

            def parse(resp: Any, keys: list[int]) -> dict[int, Outcome]:
                if resp.error_code:
                    return {keys[0]: _err(resp.error_code)}
                return {keys[0]: [t.ConsumerGroupListing(
                    g.group_id, g.protocol_type, getattr(g, "group_state", "") or "",
                    getattr(g, "group_type", "") or "") for g in resp.groups]}

            def finish(outcomes: dict[int, Outcome]) -> Any:
                listings: dict[str, t.ConsumerGroupListing] = {}
                errors: dict[int, KprotoError] = {}
                for node, o in sorted(outcomes.items()):
                    if isinstance(o, KprotoError):
                        errors[node] = o
                    else:
                        listings.update({g.group_id: g for g in o})
                return t.ListConsumerGroupsResult(dict(sorted(listings.items())), errors)

            self._start(self.client.now, timeout, brokers, self._route_brokers,
                        apis.LIST_GROUPS, build, parse, finish, token=token)
        self._with_metadata([], now, got)
        return token

    def describe_consumer_groups(self, groups: Iterable[str], now: float,
                                 timeout: float | None = None) -> int:
        """DescribeGroups, batched per coordinator; completes with ``[GroupDescription]``."""
        names = [v.check_group_id(g, f"groups[{i}]") for i, g in enumerate(groups)]

        def build(keys: list[str], version: int, left: float) -> Any:
            return protocol.DescribeGroupsRequest(groups=keys,
                                                  include_authorized_operations=False)

        def parse(resp: Any, keys: list[str]) -> dict[str, Outcome]:
            out: dict[str, Outcome] = {}
            for g in resp.groups:
                if g.error_code:
                    out[g.group_id] = _err(g.error_code, getattr(g, "error_message", None))
                    continue
                out[g.group_id] = t.GroupDescription(
                    g.group_id, None, g.group_state, g.protocol_type, g.protocol_data,
                    tuple(t.GroupMemberDescription(
                        m.member_id, getattr(m, "group_instance_id", None), m.client_id,
                        m.client_host, bytes(m.member_metadata), bytes(m.member_assignment))
                        for m in g.members), self._coordinators.get(g.group_id, -1))
            return out

        def finish(outcomes: dict[str, Outcome]) -> list[t.GroupDescription]:
            return [o if isinstance(o, t.GroupDescription) else t.GroupDescription(g, o)
                    for g, o in ((g, outcomes[g]) for g in dict.fromkeys(names))]

        return self._start(now, timeout, names, self._route_coordinators,
                           apis.DESCRIBE_GROUPS, build, parse, finish)

    def list_consumer_group_offsets(self, group: str,
                                    partitions: Mapping[str, Iterable[int]] | None,
                                    now: float, timeout: float | None = None) -> int:
        """OffsetFetch from the coordinator (``partitions`` None: every partition the group
        committed); completes with ``{topic: {partition: OffsetFetchResponseBlock}}``."""
        v.check_group_id(group)
        wanted = None if partitions is None else {
            v.check_topic_name(topic, "partitions"): [
                v.check_partition(p, f"partitions[{topic!r}]") for p in ps]
            for topic, ps in partitions.items()}

        def build(keys: list[str], version: int, left: float) -> Any:
            from kproto.protocol.messages import offset_fetch_request as of
            if version >= 8:
                return protocol.OffsetFetchRequest(groups=[of.OffsetFetchRequestGroup(
                    group_id=group, topics=None if wanted is None else [
                        of.OffsetFetchRequestTopics(name=n, partition_indexes=ps)
                        for n, ps in wanted.items()])], require_stable=True)
            return protocol.OffsetFetchRequest(
                group_id=group, topics=None if wanted is None else [
                    of.OffsetFetchRequestTopic(name=n, partition_indexes=ps)
                    for n, ps in wanted.items()], require_stable=version >= 7)

        def parse(resp: Any, keys: list[str]) -> dict[str, Outcome]:
            if getattr(resp, "groups", None):
                g = resp.groups[0]
                code, topics = g.error_code, g.topics
            else:
                code, topics = resp.error_code, resp.topics
            if code:
                return {group: _err(code, f"group {group!r}")}
            blocks: dict[str, dict[int, t.OffsetFetchResponseBlock]] = {}
            for tr in topics:
                for p in tr.partitions:
                    if p.error_code and error_for_code(p.error_code).retriable:
                        return {group: _err(p.error_code, f"{tr.name}[{p.partition_index}]")}
                    blocks.setdefault(tr.name, {})[p.partition_index] = \
                        t.OffsetFetchResponseBlock(
                            p.committed_offset, getattr(p, "committed_leader_epoch", -1),
                            p.metadata, _err(p.error_code) if p.error_code else None)
            return {group: blocks}

        def finish(outcomes: dict[str, Outcome]) -> Any:
            return outcomes[group]

        return self._start(now, timeout, [group], self._route_coordinators,
                           apis.OFFSET_FETCH, build, parse, finish)

    def alter_consumer_group_offsets(self, group: str,
                                     offsets: Mapping[str, Mapping[int, int]],
                                     now: float, timeout: float | None = None,
                                     metadata: str | None = None) -> int:
        """Commit ``offsets`` for an empty group (OffsetCommit with no member); completes
        with ``{(topic, partition): PartitionError}``."""
        v.check_group_id(group)
        for topic, ps in offsets.items():
            v.check_topic_name(topic, "offsets")
            for p, off in ps.items():
                v.check_partition(p, f"offsets[{topic!r}]")
                v.check_offset(off, f"offsets[{topic!r}][{p}]")
        keys = [(topic, p) for topic, ps in offsets.items() for p in ps]

        def build(keys: list[tuple[str, int]], version: int, left: float) -> Any:
            from kproto.protocol.messages import offset_commit_request as oc
            by: dict[str, list[Any]] = {}
            for topic, p in keys:
                by.setdefault(topic, []).append(oc.OffsetCommitRequestPartition(
                    partition_index=p, committed_offset=offsets[topic][p],
                    committed_leader_epoch=-1, commit_timestamp=-1,
                    committed_metadata=metadata))
            return protocol.OffsetCommitRequest(
                group_id=group, generation_id_or_member_epoch=-1, member_id="",
                group_instance_id=None, retention_time_ms=-1,
                topics=[oc.OffsetCommitRequestTopic(name=n, partitions=ps)
                        for n, ps in by.items()])

        def parse(resp: Any, keys: list[tuple[str, int]]) -> dict[Any, Outcome]:
            return {(tr.name, p.partition_index): _err(p.error_code) if p.error_code else None
                    for tr in resp.topics for p in tr.partitions}

        def finish(outcomes: dict[Any, Outcome]) -> dict[tuple[str, int], t.PartitionError]:
            return {k: t.PartitionError(k[0], k[1], o) for k, o in outcomes.items()}

        return self._start(now, timeout, keys, self._group_route(group), apis.OFFSET_COMMIT,
                           build, parse, finish)

    def _group_route(self, group: str) -> Route:
        def route(keys: list[Any], now: float,
                  then: Callable[[Routes, dict[Any, KprotoError]], None]) -> None:
            self._route_coordinators(keys, now, then, lambda k: group)
        return route

    def delete_consumer_groups(self, groups: Iterable[str], now: float,
                               timeout: float | None = None) -> int:
        """DeleteGroups, batched per coordinator; completes with ``{group: DeleteGroupResult}``."""
        names = [v.check_group_id(g, f"groups[{i}]") for i, g in enumerate(groups)]

        def build(keys: list[str], version: int, left: float) -> Any:
            return protocol.DeleteGroupsRequest(groups_names=keys)

        def parse(resp: Any, keys: list[str]) -> dict[str, Outcome]:
            return {r.group_id: _err(r.error_code) if r.error_code else None
                    for r in resp.results}

        def finish(outcomes: dict[str, Outcome]) -> dict[str, t.DeleteGroupResult]:
            return {g: t.DeleteGroupResult(g, o) for g, o in outcomes.items()}

        return self._start(now, timeout, names, self._route_coordinators, apis.DELETE_GROUPS,
                           build, parse, finish, done_already=GroupIdNotFoundError)

    def delete_consumer_group_offsets(self, group: str, partitions: Mapping[str, Iterable[int]],
                                      now: float, timeout: float | None = None) -> int:
        """OffsetDelete (Kafka 2.4+) of partitions the group no longer consumes; completes
        with ``{(topic, partition): PartitionError}``."""
        v.check_group_id(group)
        keys = [(v.check_topic_name(topic, "partitions"),
                 v.check_partition(p, f"partitions[{topic!r}]"))
                for topic, ps in partitions.items() for p in ps]

        def build(keys: list[tuple[str, int]], version: int, left: float) -> Any:
            from kproto.protocol.messages import offset_delete_request as od
            by: dict[str, list[Any]] = {}
            for topic, p in keys:
                by.setdefault(topic, []).append(od.OffsetDeleteRequestPartition(
                    partition_index=p))
            return protocol.OffsetDeleteRequest(group_id=group, topics=[
                od.OffsetDeleteRequestTopic(name=n, partitions=ps) for n, ps in by.items()])

        def parse(resp: Any, keys: list[tuple[str, int]]) -> dict[Any, Outcome]:
            if resp.error_code:
                return dict.fromkeys(keys, _err(resp.error_code, f"group {group!r}"))
            return {(tr.name, p.partition_index): _err(p.error_code) if p.error_code else None
                    for tr in resp.topics for p in tr.partitions}

        def finish(outcomes: dict[Any, Outcome]) -> dict[tuple[str, int], t.PartitionError]:
            return {k: t.PartitionError(k[0], k[1], o) for k, o in outcomes.items()}

        return self._start(now, timeout, keys, self._group_route(group), apis.OFFSET_DELETE,
                           build, parse, finish)

    def remove_members(self, group: str, group_instance_ids: Iterable[str], now: float,
                       timeout: float | None = None) -> int:
        """LeaveGroup (v3+) for static members; completes with
        ``{group_instance_id: MemberRemovalResult}``."""
        v.check_group_id(group)
        ids = list(group_instance_ids)
        if not ids or any(not isinstance(i, str) or not i for i in ids):
            raise InvalidArgumentError("group_instance_ids",
                                         "give one or more non-empty group instance ids")

        def build(keys: list[str], version: int, left: float) -> Any:
            from kproto.protocol.messages import leave_group_request as lg
            return protocol.LeaveGroupRequest(group_id=group, members=[
                lg.MemberIdentity(member_id="", group_instance_id=i,
                                  reason="removed by the admin") for i in keys])

        def parse(resp: Any, keys: list[str]) -> dict[str, Outcome]:
            if resp.error_code:
                return dict.fromkeys(keys, _err(resp.error_code, f"group {group!r}"))
            return {m.group_instance_id: _err(m.error_code) if m.error_code else None
                    for m in resp.members}

        def finish(outcomes: dict[str, Outcome]) -> dict[str, t.MemberRemovalResult]:
            return {i: t.MemberRemovalResult(i, o) for i, o in outcomes.items()}

        # Removing static members by instance id needs LeaveGroup v3 (Kafka 2.4+).
        return self._start(now, timeout, ids, self._group_route(group), apis.LEAVE_GROUP,
                           build, parse, finish, min_version=3)

    # == log dirs, reassignments, elections ===============================================

    def describe_log_dirs(self, brokers: Iterable[int] | None, now: float,
                          timeout: float | None = None) -> int:
        """DescribeLogDirs on each broker (None: every broker in the metadata); completes
        with ``{broker id: DescribeLogDirsResult}``."""
        token = self.client.new_token()
        wanted = None if brokers is None else [
            v.check_offset(b, f"brokers[{i}]") for i, b in enumerate(brokers)]

        def build(keys: list[int], version: int, left: float) -> Any:
            return protocol.DescribeLogDirsRequest(topics=None)

        def parse(resp: Any, keys: list[int]) -> dict[int, Outcome]:
            if getattr(resp, "error_code", 0):
                return {keys[0]: _err(resp.error_code)}
            dirs = tuple(t.LogDirDescription(
                r.log_dir, _err(r.error_code) if r.error_code else None,
                {(tp.name, p.partition_index): t.ReplicaInfo(
                    p.partition_size, p.offset_lag, p.is_future_key)
                 for tp in r.topics for p in tp.partitions},
                getattr(r, "total_bytes", -1), getattr(r, "usable_bytes", -1))
                for r in resp.results)
            return {keys[0]: t.DescribeLogDirsResult(keys[0], None, dirs)}

        def finish(outcomes: dict[int, Outcome]) -> dict[int, t.DescribeLogDirsResult]:
            return {b: o if isinstance(o, t.DescribeLogDirsResult)
                    else t.DescribeLogDirsResult(b, o) for b, o in outcomes.items()}

        def got(resp: Any, err: KprotoError | None) -> None:
            if err is not None:
                self.client.fail(token, err)
                return
            nodes = sorted(self.client.cluster.brokers) if wanted is None else wanted
            self._start(self.client.now, timeout, nodes, self._route_brokers,
                        apis.DESCRIBE_LOG_DIRS, build, parse, finish, token=token)
        self._with_metadata([], now, got)
        return token

    def alter_partition_reassignments(self, topic: str,
                                      assignment: Mapping[int, Iterable[int] | None],
                                      now: float, timeout: float | None = None) -> int:
        """Move partitions to new replicas (None: cancel that partition's reassignment);
        completes with ``{(topic, partition): PartitionError}``."""
        v.check_topic_name(topic)
        moves: dict[int, list[int] | None] = {}
        for p, replicas in assignment.items():
            v.check_partition(p, "assignment")
            moves[p] = None if replicas is None else v.check_assignment(
                {0: list(replicas)}, f"assignment[{p}]")[0]
        if not moves:
            raise InvalidArgumentError("assignment", "give at least one partition")

        def build(keys: list[tuple[str, int]], version: int, left: float) -> Any:
            from kproto.protocol.messages import alter_partition_reassignments_request as ap
            return protocol.AlterPartitionReassignmentsRequest(
                timeout_ms=_ms(left), topics=[ap.ReassignableTopic(name=topic, partitions=[
                    ap.ReassignablePartition(partition_index=p, replicas=moves[p])
                    for _, p in keys])])

        def parse(resp: Any, keys: list[tuple[str, int]]) -> dict[Any, Outcome]:
            if resp.error_code:
                return dict.fromkeys(keys, _err(resp.error_code, resp.error_message))
            return {(tr.name, p.partition_index): _err(p.error_code, p.error_message)
                    if p.error_code else None for tr in resp.responses for p in tr.partitions}

        def finish(outcomes: dict[Any, Outcome]) -> dict[tuple[str, int], t.PartitionError]:
            return {k: t.PartitionError(k[0], k[1], o) for k, o in outcomes.items()}

        return self._start(now, timeout, [(topic, p) for p in moves], self._route_controller,
                           apis.ALTER_PARTITION_REASSIGNMENTS, build, parse, finish)

    def list_partition_reassignments(self, topic: str | None, partitions: Iterable[int] | None,
                                     now: float, timeout: float | None = None) -> int:
        """Ongoing reassignments (``topic`` None: all of them); completes with
        ``{topic: {partition: PartitionReplicaReassignmentsStatus}}``."""
        wanted: list[Any] | None = None
        if topic is not None:
            if partitions is None:
                raise InvalidArgumentError("partitions", "name the partitions of the topic")
            from kproto.protocol.messages import list_partition_reassignments_request as lp
            wanted = [lp.ListPartitionReassignmentsTopics(
                name=v.check_topic_name(topic),
                partition_indexes=[v.check_partition(p, "partitions") for p in partitions])]

        def build(keys: list[str], version: int, left: float) -> Any:
            return protocol.ListPartitionReassignmentsRequest(timeout_ms=_ms(left),
                                                              topics=wanted)

        def parse(resp: Any, keys: list[str]) -> dict[str, Outcome]:
            if resp.error_code:
                return {"all": _err(resp.error_code, resp.error_message)}
            return {"all": {tr.name: {p.partition_index: t.PartitionReplicaReassignmentsStatus(
                tuple(p.replicas), tuple(p.adding_replicas), tuple(p.removing_replicas))
                for p in tr.partitions} for tr in resp.topics}}

        return self._start(now, timeout, ["all"], self._route_controller,
                           apis.LIST_PARTITION_REASSIGNMENTS, build, parse,
                           lambda o: o["all"])

    def elect_leaders(self, election_type: int,
                      partitions: Mapping[str, Iterable[int]] | None, now: float,
                      timeout: float | None = None) -> int:
        """ElectLeaders (PREFERRED or UNCLEAN) for ``partitions`` (None: every partition);
        completes with ``{(topic, partition): PartitionError}`` (ELECTION_NOT_NEEDED where
        the leader is already the one that would be elected)."""
        kind = t.ElectionType(election_type)
        wanted = None if partitions is None else {
            v.check_topic_name(topic, "partitions"): [
                v.check_partition(p, f"partitions[{topic!r}]") for p in ps]
            for topic, ps in partitions.items()}

        def build(keys: list[str], version: int, left: float) -> Any:
            from kproto.protocol.messages import elect_leaders_request as el
            return protocol.ElectLeadersRequest(
                election_type=int(kind), timeout_ms=_ms(left),
                topic_partitions=None if wanted is None else [
                    el.TopicPartitions(topic=n, partitions=ps) for n, ps in wanted.items()])

        def parse(resp: Any, keys: list[str]) -> dict[str, Outcome]:
            if getattr(resp, "error_code", 0):
                return {"all": _err(resp.error_code)}
            return {"all": {(r.topic, p.partition_id): t.PartitionError(
                r.topic, p.partition_id, _err(p.error_code, p.error_message)
                if p.error_code else None)
                for r in resp.replica_election_results for p in r.partition_result}}

        # Unclean elections need ElectLeaders v1 (Kafka 2.4+).
        return self._start(now, timeout, ["all"], self._route_controller, apis.ELECT_LEADERS,
                           build, parse, lambda o: o["all"],
                           min_version=1 if kind == t.ElectionType.UNCLEAN else None)

    # == SCRAM credentials ================================================================

    def describe_user_scram_credentials(self, users: Iterable[str] | None, now: float,
                                        timeout: float | None = None) -> int:
        """Completes with ``{user: UserScramCredentialsDescription}`` (None: every user
        that has credentials)."""
        names = None if users is None else [
            v.check_group_id(u, f"users[{i}]") for i, u in enumerate(users)]

        def build(keys: list[str], version: int, left: float) -> Any:
            from kproto.protocol.messages import describe_user_scram_credentials_request as ds
            return protocol.DescribeUserScramCredentialsRequest(
                users=None if names is None else [ds.UserName(name=n) for n in names])

        def parse(resp: Any, keys: list[str]) -> dict[str, Outcome]:
            if resp.error_code:
                return {"all": _err(resp.error_code, resp.error_message)}
            return {"all": {r.user: t.UserScramCredentialsDescription(
                r.user, _err(r.error_code, r.error_message) if r.error_code else None,
                tuple(t.ScramCredentialInfo(t.ScramMechanism(c.mechanism), c.iterations)
                      for c in r.credential_infos)) for r in resp.results}}

        return self._start(now, timeout, ["all"], self._route_controller,
                           apis.DESCRIBE_USER_SCRAM_CREDENTIALS, build, parse,
                           lambda o: o["all"])

    def alter_user_scram_credentials(
            self, upsertions: Iterable[t.AlterUserScramCredentialsUpsert],
            deletions: Iterable[t.AlterUserScramCredentialsDelete], now: float,
            timeout: float | None = None) -> int:
        """Set and delete SCRAM credentials; completes with
        ``{user: UserScramCredentialsResult}``."""
        from kproto.protocol.messages import alter_user_scram_credentials_request as au
        ups, dels = [], []
        for i, u in enumerate(upsertions):
            where = f"upsertions[{i}]"
            if not isinstance(u, t.AlterUserScramCredentialsUpsert):
                raise InvalidArgumentError(where, "give an AlterUserScramCredentialsUpsert")
            v.check_group_id(u.name, f"{where}.name")
            mech = _scram_mechanism(u.mechanism, f"{where}.mechanism")
            if not isinstance(u.iterations, int) or not 4096 <= u.iterations <= 16384:
                raise InvalidArgumentError(f"{where}.iterations", "Kafka accepts 4096 to "
                                           f"16384 iterations, not {u.iterations!r}")
            if not isinstance(u.password, str) or not u.password:
                raise InvalidArgumentError(f"{where}.password", "the password is empty")
            salt = u.salt if u.salt is not None else self.client.rng.randbytes(32)
            digest = "sha256" if mech == t.ScramMechanism.SCRAM_SHA_256 else "sha512"
            salted = hashlib.pbkdf2_hmac(digest, u.password.encode(), salt, u.iterations)
            ups.append(au.ScramCredentialUpsertion(name=u.name, mechanism=int(mech),
                                                   iterations=u.iterations, salt=salt,
                                                   salted_password=salted))
        for i, d in enumerate(deletions):
            where = f"deletions[{i}]"
            if not isinstance(d, t.AlterUserScramCredentialsDelete):
                raise InvalidArgumentError(where, "give an AlterUserScramCredentialsDelete")
            v.check_group_id(d.name, f"{where}.name")
            dels.append(au.ScramCredentialDeletion(
                name=d.name, mechanism=int(_scram_mechanism(d.mechanism, f"{where}.mechanism"))))
        users = list(dict.fromkeys([u.name for u in ups] + [d.name for d in dels]))

        def build(keys: list[str], version: int, left: float) -> Any:
            return protocol.AlterUserScramCredentialsRequest(
                upsertions=[u for u in ups if u.name in keys],
                deletions=[d for d in dels if d.name in keys])

        def parse(resp: Any, keys: list[str]) -> dict[str, Outcome]:
            return {r.user: _err(r.error_code, r.error_message) if r.error_code else None
                    for r in resp.results}

        def finish(outcomes: dict[str, Outcome]) -> dict[str, t.UserScramCredentialsResult]:
            return {u: t.UserScramCredentialsResult(u, o) for u, o in outcomes.items()}

        return self._start(now, timeout, users, self._route_controller,
                           apis.ALTER_USER_SCRAM_CREDENTIALS, build, parse, finish)

    # == client quotas ====================================================================

    def describe_client_quotas(self, components: Iterable[t.QuotaFilterComponent],
                               strict: bool, now: float, timeout: float | None = None) -> int:
        """Completes with ``[DescribeClientQuotasEntry]``."""
        filters = list(components)
        for i, c in enumerate(filters):
            if not isinstance(c, t.QuotaFilterComponent) or not c.entity_type:
                raise InvalidArgumentError(f"components[{i}]", "give a QuotaFilterComponent "
                                                               "with an entity type")
            if (c.match_type == t.QuotaMatchType.EXACT) != (c.match is not None):
                raise InvalidArgumentError(f"components[{i}].match",
                                           "EXACT needs a match; DEFAULT and ANY take none")

        def build(keys: list[str], version: int, left: float) -> Any:
            from kproto.protocol.messages import describe_client_quotas_request as dq
            return protocol.DescribeClientQuotasRequest(components=[
                dq.ComponentData(entity_type=c.entity_type, match_type=int(c.match_type),
                                 match=c.match) for c in filters], strict=strict)

        def parse(resp: Any, keys: list[str]) -> dict[str, Outcome]:
            if resp.error_code:
                return {"all": _err(resp.error_code, resp.error_message)}
            return {"all": [t.DescribeClientQuotasEntry(
                {e.entity_type: e.entity_name for e in entry.entity},
                {val.key: val.value for val in entry.values}) for entry in resp.entries or ()]}

        return self._start(now, timeout, ["all"], self._route_any,
                           apis.DESCRIBE_CLIENT_QUOTAS, build, parse, lambda o: o["all"])

    def alter_client_quotas(self, entity: Iterable[t.QuotaEntityComponent],
                            ops: Iterable[t.ClientQuotasOp], validate_only: bool, now: float,
                            timeout: float | None = None) -> int:
        """Set or remove quotas of one entity; completes with None or fails with its error."""
        parts, changes = list(entity), list(ops)
        if not parts or any(not isinstance(c, t.QuotaEntityComponent) or not c.entity_type
                            for c in parts):
            raise InvalidArgumentError("entity", "give one or more QuotaEntityComponents")
        if not changes or any(not isinstance(o, t.ClientQuotasOp) or not o.key
                              for o in changes):
            raise InvalidArgumentError("ops", "give one or more ClientQuotasOps")

        def build(keys: list[str], version: int, left: float) -> Any:
            from kproto.protocol.messages import alter_client_quotas_request as aq
            return protocol.AlterClientQuotasRequest(entries=[aq.EntryData(
                entity=[aq.EntityData(entity_type=c.entity_type, entity_name=c.name)
                        for c in parts],
                ops=[aq.OpData(key=o.key, value=float(o.value), remove=o.remove)
                     for o in changes])], validate_only=validate_only)

        def parse(resp: Any, keys: list[str]) -> dict[str, Outcome]:
            [entry] = resp.entries
            return {"entity": _err(entry.error_code, entry.error_message)
                    if entry.error_code else None}

        return self._start(now, timeout, ["entity"], self._route_any,
                           apis.ALTER_CLIENT_QUOTAS, build, parse, lambda o: o["entity"])

    # == ACLs =============================================================================

    def create_acls(self, acls: Iterable[t.AclBinding], now: float,
                    timeout: float | None = None) -> int:
        """Completes with ``[AclResult]``, in the order given."""
        bindings = list(acls)
        for i, a in enumerate(bindings):
            _check_acl(a, f"acls[{i}]")
        keys = list(range(len(bindings)))

        def build(keys: list[int], version: int, left: float) -> Any:
            from kproto.protocol.messages import create_acls_request as ca
            return protocol.CreateAclsRequest(creations=[ca.AclCreation(
                resource_type=int(a.resource_type), resource_name=a.resource_name,
                resource_pattern_type=int(a.pattern_type), principal=a.principal,
                host=a.host, operation=int(a.operation),
                permission_type=int(a.permission_type))
                for a in (bindings[k] for k in keys)])

        def parse(resp: Any, keys: list[int]) -> dict[int, Outcome]:
            return {k: _err(r.error_code, r.error_message) if r.error_code else None
                    for k, r in zip(keys, resp.results, strict=False)}

        def finish(outcomes: dict[int, Outcome]) -> list[t.AclResult]:
            return [t.AclResult(bindings[k], o) for k, o in outcomes.items()]

        return self._start(now, timeout, keys, self._route_any, apis.CREATE_ACLS, build,
                           parse, finish)

    def describe_acls(self, acl_filter: t.AclFilter, now: float,
                      timeout: float | None = None) -> int:
        """Completes with the ``[AclBinding]`` matching the filter."""
        f = _check_filter(acl_filter, "filter")

        def build(keys: list[str], version: int, left: float) -> Any:
            return protocol.DescribeAclsRequest(
                resource_type_filter=int(f.resource_type), resource_name_filter=f.resource_name,
                pattern_type_filter=int(f.pattern_type), principal_filter=f.principal,
                host_filter=f.host, operation=int(f.operation),
                permission_type=int(f.permission_type))

        def parse(resp: Any, keys: list[str]) -> dict[str, Outcome]:
            if resp.error_code:
                return {"all": _err(resp.error_code, resp.error_message)}
            return {"all": [t.AclBinding(
                t.AclResourceType(r.resource_type), r.resource_name, a.principal,
                t.AclOperation(a.operation), t.AclPermissionType(a.permission_type), a.host,
                t.AclResourcePatternType(getattr(r, "pattern_type", 3)))
                for r in resp.resources for a in r.acls]}

        return self._start(now, timeout, ["all"], self._route_any, apis.DESCRIBE_ACLS, build,
                           parse, lambda o: o["all"])

    def delete_acls(self, filters: Iterable[t.AclFilter], now: float,
                    timeout: float | None = None) -> int:
        """Completes with ``[DeleteAclsResult]``, one per filter."""
        given = [_check_filter(f, f"filters[{i}]") for i, f in enumerate(filters)]
        keys = list(range(len(given)))

        def build(keys: list[int], version: int, left: float) -> Any:
            from kproto.protocol.messages import delete_acls_request as da
            return protocol.DeleteAclsRequest(filters=[da.DeleteAclsFilter(
                resource_type_filter=int(f.resource_type), resource_name_filter=f.resource_name,
                pattern_type_filter=int(f.pattern_type), principal_filter=f.principal,
                host_filter=f.host, operation=int(f.operation),
                permission_type=int(f.permission_type)) for f in (given[k] for k in keys)])

        def parse(resp: Any, keys: list[int]) -> dict[int, Outcome]:
            out: dict[int, Outcome] = {}
            for k, r in zip(keys, resp.filter_results, strict=False):
                if r.error_code:
                    out[k] = _err(r.error_code, r.error_message)
                    continue
                out[k] = tuple(t.AclBinding(
                    t.AclResourceType(m.resource_type), m.resource_name, m.principal,
                    t.AclOperation(m.operation), t.AclPermissionType(m.permission_type),
                    m.host, t.AclResourcePatternType(getattr(m, "pattern_type", 3)))
                    for m in r.matching_acls if not m.error_code)
            return out

        def finish(outcomes: dict[int, Outcome]) -> list[t.DeleteAclsResult]:
            return [t.DeleteAclsResult(given[k], o) if isinstance(o, KprotoError)
                    else t.DeleteAclsResult(given[k], None, o) for k, o in outcomes.items()]

        return self._start(now, timeout, keys, self._route_any, apis.DELETE_ACLS, build,
                           parse, finish)

    # == producers and transactions =======================================================

    def describe_producers(self, partitions: Iterable[tuple[str, int]], now: float,
                           timeout: float | None = None) -> int:
        """The active producers of each partition, from its leader, batched per broker;
        completes with ``{(topic, partition): PartitionProducers}``."""
        keys = [(v.check_topic_name(tp, "partitions"), v.check_partition(p, "partitions"))
                for tp, p in partitions]

        def build(keys: list[tuple[str, int]], version: int, left: float) -> Any:
            from kproto.protocol.messages import describe_producers_request as dp
            by: dict[str, list[int]] = {}
            for topic, p in keys:
                by.setdefault(topic, []).append(p)
            return protocol.DescribeProducersRequest(topics=[
                dp.TopicRequest(name=n, partition_indexes=ps) for n, ps in by.items()])

        def parse(resp: Any, keys: list[tuple[str, int]]) -> dict[Any, Outcome]:
            return {(tr.name, p.partition_index): _err(p.error_code, p.error_message)
                    if p.error_code else tuple(t.ProducerState(
                        s.producer_id, s.producer_epoch, s.last_sequence, s.last_timestamp,
                        s.coordinator_epoch, s.current_txn_start_offset)
                        for s in p.active_producers)
                    for tr in resp.topics for p in tr.partitions}

        def finish(outcomes: dict[Any, Outcome]) -> dict[tuple[str, int], t.PartitionProducers]:
            return {k: t.PartitionProducers(k[0], k[1], o) if isinstance(o, KprotoError)
                    else t.PartitionProducers(k[0], k[1], None, o) for k, o in outcomes.items()}

        return self._start(now, timeout, keys, self._route_leaders, apis.DESCRIBE_PRODUCERS,
                           build, parse, finish)

    def describe_transactions(self, transactional_ids: Iterable[str], now: float,
                              timeout: float | None = None) -> int:
        """Each transactional id's state at its coordinator; completes with
        ``[TransactionDescription]``."""
        ids = [v.check_group_id(i, f"transactional_ids[{n}]")
               for n, i in enumerate(transactional_ids)]
        coordinators: dict[str, int] = {}

        def route(keys: list[str], now: float,
                  then: Callable[[Routes, dict[Any, KprotoError]], None]) -> None:
            routes: Routes = {}
            failed: dict[Any, KprotoError] = {}
            waiting = [len(keys)]
            for key in keys:
                def found(now: float, node: int | None, err: BaseException | None,
                          key: str = key) -> None:
                    if node is not None:
                        coordinators[key] = node
                        routes.setdefault(node, []).append(key)
                    else:
                        failed[key] = err if isinstance(err, KprotoError) \
                            else KprotoError(str(err))
                    waiting[0] -= 1
                    if waiting[0] == 0:
                        then(routes, failed)
                find_coordinator(self.client, TXN_KEY, key, now, found)

        def build(keys: list[str], version: int, left: float) -> Any:
            return protocol.DescribeTransactionsRequest(transactional_ids=keys)

        def parse(resp: Any, keys: list[str]) -> dict[str, Outcome]:
            return {s.transactional_id: _err(s.error_code) if s.error_code
                    else t.TransactionDescription(
                        s.transactional_id, None, s.transaction_state, s.producer_id,
                        s.producer_epoch, s.transaction_timeout_ms, s.transaction_start_time_ms,
                        tuple((tp.topic, p) for tp in s.topics for p in tp.partitions),
                        coordinators.get(s.transactional_id, -1))
                    for s in resp.transaction_states}

        def finish(outcomes: dict[str, Outcome]) -> list[t.TransactionDescription]:
            return [o if isinstance(o, t.TransactionDescription)
                    else t.TransactionDescription(i, o) for i, o in outcomes.items()]

        return self._start(now, timeout, ids, route, apis.DESCRIBE_TRANSACTIONS, build, parse,
                           finish)

    def list_transactions(self, now: float, timeout: float | None = None,
                          states: Iterable[str] = (), producer_ids: Iterable[int] = ()) -> int:
        """ListTransactions on every broker; completes with a ListTransactionsResult."""
        token = self.client.new_token()
        state_filters, pid_filters = list(states), list(producer_ids)

        def build(keys: list[int], version: int, left: float) -> Any:
            return protocol.ListTransactionsRequest(state_filters=state_filters,
                                                    producer_id_filters=pid_filters,
                                                    duration_filter=-1)

        def parse(resp: Any, keys: list[int]) -> dict[int, Outcome]:
            if resp.error_code:
                return {keys[0]: _err(resp.error_code)}
            return {keys[0]: [t.TransactionListing(s.transactional_id, s.producer_id,
                                                   s.transaction_state)
                              for s in resp.transaction_states]}

        def finish(outcomes: dict[int, Outcome]) -> Any:
            listings: list[t.TransactionListing] = []
            errors: dict[int, KprotoError] = {}
            for node, o in sorted(outcomes.items()):
                if isinstance(o, KprotoError):
                    errors[node] = o
                else:
                    listings.extend(o)
            return t.ListTransactionsResult(
                sorted(listings, key=lambda x: x.transactional_id), errors)

        def got(resp: Any, err: KprotoError | None) -> None:
            if err is not None:
                self.client.fail(token, err)
                return
            self._start(self.client.now, timeout, sorted(self.client.cluster.brokers),
                        self._route_brokers, apis.LIST_TRANSACTIONS, build, parse, finish,
                        token=token)
        self._with_metadata([], now, got)
        return token

    # == features =========================================================================

    def update_features(self, updates: Mapping[str, t.FeatureUpdate], validate_only: bool,
                        now: float, timeout: float | None = None) -> int:
        """UpdateFeatures at the controller; completes with ``{feature:
        FeatureUpdateResult}``."""
        if not updates:
            raise InvalidArgumentError("updates", "give at least one feature")
        for name, u in updates.items():
            if not isinstance(name, str) or not name:
                raise InvalidArgumentError("updates", "feature names are non-empty strs")
            if not isinstance(u, t.FeatureUpdate):
                raise InvalidArgumentError(f"updates[{name!r}]", "give a FeatureUpdate")
            if not isinstance(u.max_version_level, int) or not 0 <= u.max_version_level <= 32767:
                raise InvalidArgumentError(f"updates[{name!r}].max_version_level",
                                           "a level is an int from 0 to 32767")
            kind = t.FeatureUpgradeType(u.upgrade_type)
            if u.max_version_level == 0 and kind == t.FeatureUpgradeType.UPGRADE:
                raise InvalidArgumentError(f"updates[{name!r}].upgrade_type",
                                           "level 0 removes the feature: a downgrade")

        def build(keys: list[str], version: int, left: float) -> Any:
            from kproto.protocol.messages import update_features_request as uf
            return protocol.UpdateFeaturesRequest(
                timeout_ms=_ms(left), validate_only=validate_only, feature_updates=[
                    uf.FeatureUpdateKey(
                        feature=n, max_version_level=updates[n].max_version_level,
                        allow_downgrade=updates[n].upgrade_type != t.FeatureUpgradeType.UPGRADE,
                        upgrade_type=int(updates[n].upgrade_type)) for n in keys])

        def parse(resp: Any, keys: list[str]) -> dict[str, Outcome]:
            if resp.error_code:
                return dict.fromkeys(keys, _err(resp.error_code, resp.error_message))
            return {r.feature: _err(r.error_code, r.error_message) if r.error_code else None
                    for r in resp.results}

        def finish(outcomes: dict[str, Outcome]) -> dict[str, t.FeatureUpdateResult]:
            return {n: t.FeatureUpdateResult(n, o) for n, o in outcomes.items()}

        # validate_only needs UpdateFeatures v1 (Kafka 3.3+).
        return self._start(now, timeout, list(updates), self._route_controller,
                           apis.UPDATE_FEATURES, build, parse, finish,
                           min_version=1 if validate_only else None)


def _scram_mechanism(value: object, field: str) -> t.ScramMechanism:
    try:
        mech = t.ScramMechanism(value)  # type: ignore[arg-type]
    except ValueError:
        mech = t.ScramMechanism.UNKNOWN
    if mech == t.ScramMechanism.UNKNOWN:
        raise InvalidArgumentError(field, "SCRAM_SHA_256 or SCRAM_SHA_512")
    return mech


def _check_acl(acl: object, field: str) -> t.AclBinding:
    """A binding names one concrete resource, principal, operation and permission."""
    if not isinstance(acl, t.AclBinding):
        raise InvalidArgumentError(field, "give an AclBinding")
    if acl.resource_type in (t.AclResourceType.ANY, t.AclResourceType.UNKNOWN):
        raise InvalidArgumentError(f"{field}.resource_type", "name a concrete resource type")
    if acl.pattern_type not in (t.AclResourcePatternType.LITERAL,
                                t.AclResourcePatternType.PREFIXED):
        raise InvalidArgumentError(f"{field}.pattern_type", "LITERAL or PREFIXED")
    if not acl.resource_name:
        raise InvalidArgumentError(f"{field}.resource_name", "the resource name is empty")
    if not acl.principal or ":" not in acl.principal:
        raise InvalidArgumentError(f"{field}.principal",
                                   f"a principal is 'Type:name' (User:alice), not "
                                   f"{acl.principal!r}")
    if acl.operation in (t.AclOperation.ANY, t.AclOperation.UNKNOWN):
        raise InvalidArgumentError(f"{field}.operation", "name a concrete operation")
    if acl.permission_type not in (t.AclPermissionType.ALLOW, t.AclPermissionType.DENY):
        raise InvalidArgumentError(f"{field}.permission_type", "ALLOW or DENY")
    if not acl.host:
        raise InvalidArgumentError(f"{field}.host", "the host is empty ('*' for any)")
    return acl


def _check_filter(f: object, field: str) -> t.AclFilter:
    """A filter may match anything of a kind, but UNKNOWN matches nothing meaningful."""
    if not isinstance(f, t.AclFilter):
        raise InvalidArgumentError(field, "give an AclFilter")
    for name in ("resource_type", "pattern_type", "operation", "permission_type"):
        if getattr(f, name) == 0:
            raise InvalidArgumentError(f"{field}.{name}", "UNKNOWN matches nothing; use ANY")
    return f
