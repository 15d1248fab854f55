"""Session-wide real Kafka brokers for the tests (see docs/testing.md).

Fixtures: ``kafka_broker`` (the version chosen by KPROTO_KAFKA_VERSION), ``kafka_broker_39``,
``kafka_broker_4x`` and ``kafka_cluster`` (three nodes). Each broker starts at most once per
session and is shared; a test that uses one is marked ``broker`` (or ``cluster``)
automatically, and when it fails the report gets the tail of the broker logs written while
it ran.

With KPROTO_BOOTSTRAP set the fixtures wrap that external cluster instead; what only a
harness-started broker can do (kill, proxy, SASL users, CA) then skips with the reason.
With CI=true a broker that cannot start fails the tests; elsewhere a missing java or mvn skips.

With KPROTO_TARGET=fake (or ``--target=fake``) the fixtures give the embedded fake cluster
instead, served on 127.0.0.1 (tests/harness/fake.py): one broker for ``kafka_broker`` and
``kafka_broker_4x``, three for ``kafka_cluster``; ``kafka_broker_39`` and the authorizer
brokers skip (version fallback and ACLs need a real broker), and so does every test marked
``real_broker("why")``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.harness.broker import KafkaCluster
from tests.harness.external import ExternalKafka, Unavailable
from tests.harness.fake import FakeKafka
from tests.harness.jars import VERSIONS, HarnessError, MissingTool, chosen_version
from tests.harness.runs import tail

BROKER_FIXTURES = ("kafka_broker", "kafka_broker_39", "kafka_broker_4x", "kafka_broker_acl",
                   "kafka_broker_acl_39")
CLUSTER_FIXTURES = ("kafka_cluster",)
BROKER_FREE_ENV = "KPROTO_BROKER_FREE"
"""Set by the pass that runs only the broker-free tests: a test starting a broker fails."""
V39 = next(v for v in VERSIONS if v.startswith("3."))
V4X = next(v for v in VERSIONS if v.startswith("4."))
LOG_LINES = 60

_log_offsets = pytest.StashKey[dict[Path, int]]()


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


class KafkaPool:
    """Brokers started in this session, keyed by (version, size); each started once."""

    def __init__(self) -> None:
        self.started: dict[tuple[str, int, bool], KafkaCluster] = {}
        self.failed: dict[tuple[str, int, bool], str] = {}
        self.skipped: dict[tuple[str, int, bool], str] = {}
        self.external: ExternalKafka | None = None
        self.fakes: dict[int, FakeKafka] = {}

    def get(self, version: str, size: int, *, authorizer: bool = False) -> KafkaCluster:
        key = (version, size, authorizer)
        if key in self.started:
            return self.started[key]
        if key in self.failed:
            first = self.failed[key].splitlines()[0]
            pytest.fail(f"(failed earlier in this session; the first error has the log) {first}", pytrace=False)
        if key in self.skipped:
            pytest.skip(self.skipped[key])
        if os.environ.get(BROKER_FREE_ENV):
            pytest.fail(f"{BROKER_FREE_ENV} is set but this test starts Kafka {version}: mark it "
                        "(a broker fixture, or a parameter naming one, marks it 'broker')",
                        pytrace=False)
        cluster = KafkaCluster(version, size, authorizer=authorizer)
        try:
            cluster.start()
        except MissingTool as exc:
            if not in_ci():
                self.skipped[key] = str(exc)
            else:
                self.failed[key] = f"CI=true and Kafka {version} cannot run: {exc}"
        except HarnessError as exc:
            self.failed[key] = str(exc)
        else:
            self.started[key] = cluster
            return cluster
        # Outside the except blocks, so the report shows the message, not a chained traceback.
        if key in self.failed:
            pytest.fail(self.failed[key], pytrace=False)
        pytest.skip(self.skipped[key])

    def get_external(self) -> ExternalKafka:
        if self.external is None:
            bootstrap = os.environ["KPROTO_BOOTSTRAP"]
            version = os.environ.get("KPROTO_KAFKA_VERSION", "").strip() or None
            external = ExternalKafka(bootstrap, version)
            try:
                external.check()
            except (HarnessError, OSError) as exc:
                pytest.fail(f"KPROTO_BOOTSTRAP={bootstrap}: {exc}", pytrace=False)
            self.external = external
        return self.external

    def get_fake(self, size: int) -> FakeKafka:
        if size not in self.fakes:
            self.fakes[size] = FakeKafka(size)
        return self.fakes[size]

    def close(self) -> None:
        for cluster in self.started.values():
            cluster.close()
        self.started.clear()
        for fake in self.fakes.values():
            fake.close()
        self.fakes.clear()


_target: list[str] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--target", choices=("real", "fake"), default=None,
                     help="what the broker fixtures give: real brokers (default) or the "
                          "embedded fake cluster; KPROTO_TARGET sets the default")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real_broker(reason): only meaningful on a real "
                                       "broker; skipped with KPROTO_TARGET=fake")
    target = config.getoption("--target", None) or os.environ.get("KPROTO_TARGET", "real")
    target = target.strip().lower() or "real"
    if target not in ("real", "fake"):
        raise pytest.UsageError(f"KPROTO_TARGET must be 'real' or 'fake', not {target!r}")
    _target[:] = [target]


def fake_mode() -> bool:
    """The broker fixtures give the embedded fake cluster (KPROTO_TARGET=fake)."""
    return _target[:1] == ["fake"] or (
        not _target and os.environ.get("KPROTO_TARGET", "").strip().lower() == "fake")


def _external_mode() -> bool:
    return bool(os.environ.get("KPROTO_BOOTSTRAP", "").strip())


@pytest.fixture(scope="session")
def kafka_pool() -> Any:
    pool = KafkaPool()
    try:
        yield pool
    finally:
        pool.close()


def _version_fixture(pool: KafkaPool, version: str) -> KafkaCluster | ExternalKafka:
    if fake_mode():
        if version.startswith("3."):
            pytest.skip(f"needs Kafka {version}: KPROTO_TARGET=fake gives the fake cluster, "
                        "which speaks the newest versions")
        return pool.get_fake(1)
    if _external_mode():
        external = pool.get_external()
        if external.version is None or external.version.split(".")[0] != version.split(".")[0]:
            pytest.skip(
                f"needs Kafka {version}; the external cluster's version is "
                f"{external.version or 'unknown (set KPROTO_KAFKA_VERSION)'}"
            )
        return external
    return pool.get(version, 1)


@pytest.fixture(scope="session")
def kafka_broker(kafka_pool: KafkaPool) -> KafkaCluster | ExternalKafka:
    """The single broker of the chosen version (KPROTO_KAFKA_VERSION, default the newest)."""
    if fake_mode():
        return kafka_pool.get_fake(1)
    if _external_mode():
        return kafka_pool.get_external()
    try:
        version = chosen_version()
    except HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)
    return kafka_pool.get(version, 1)


@pytest.fixture(scope="session")
def kafka_broker_acl(kafka_pool: KafkaPool) -> KafkaCluster:
    """A broker of the chosen version running KRaft's StandardAuthorizer: User:ANONYMOUS
    (PLAINTEXT) is a super user, a resource without ACLs is open to everyone, so ACLs bind
    the SASL user on the resources they name."""
    if fake_mode():
        pytest.skip("ACLs need a real broker (the fake cluster has none)")
    if _external_mode():
        pytest.skip("needs a harness broker with the authorizer enabled")
    try:
        version = chosen_version()
    except HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)
    return kafka_pool.get(version, 1, authorizer=True)


@pytest.fixture(scope="session")
def kafka_broker_acl_39(kafka_pool: KafkaPool) -> KafkaCluster:
    """A Kafka 3.9 broker with the StandardAuthorizer, set up as ``kafka_broker_acl``."""
    if fake_mode():
        pytest.skip("ACLs need a real broker (the fake cluster has none)")
    if _external_mode():
        pytest.skip("needs a harness broker with the authorizer enabled")
    return kafka_pool.get(V39, 1, authorizer=True)


@pytest.fixture(scope="session")
def kafka_broker_39(kafka_pool: KafkaPool) -> KafkaCluster | ExternalKafka:
    """A Kafka 3.9 broker (the same object as kafka_broker when that is 3.9 too)."""
    return _version_fixture(kafka_pool, V39)


@pytest.fixture(scope="session")
def kafka_broker_4x(kafka_pool: KafkaPool) -> KafkaCluster | ExternalKafka:
    """A Kafka 4.x broker (the same object as kafka_broker when that is 4.x too)."""
    return _version_fixture(kafka_pool, V4X)


@pytest.fixture(scope="session")
def kafka_cluster(kafka_pool: KafkaPool) -> KafkaCluster | ExternalKafka:
    """Three combined broker+controller nodes of the chosen version (RF 3, min ISR 2)."""
    if fake_mode():
        return kafka_pool.get_fake(3)
    if _external_mode():
        external = kafka_pool.get_external()
        if external.size < 3:
            pytest.skip(f"needs a cluster of 3 brokers; {external.bootstrap} has {external.size}")
        return external
    try:
        version = chosen_version()
    except HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)
    return kafka_pool.get(version, 3)


# -- hooks ----------------------------------------------------------------------------------------

def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    fake = fake_mode()
    for item in items:
        marker = item.get_closest_marker("real_broker")
        if fake and marker is not None:
            why = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
            item.add_marker(pytest.mark.skip(reason=f"real broker only: {why}"))
        names = set(getattr(item, "fixturenames", ()))
        # A test may take its broker by name at run time (request.getfixturevalue(param)):
        # a parameter value naming a broker fixture marks it too.
        callspec = getattr(item, "callspec", None)
        if callspec is not None:
            names.update(v for v in callspec.params.values() if isinstance(v, str))
        if names.intersection(BROKER_FIXTURES):
            item.add_marker(pytest.mark.broker)
        if names.intersection(CLUSTER_FIXTURES):
            item.add_marker(pytest.mark.cluster)


def _brokers_of(item: pytest.Item) -> list[KafkaCluster]:
    """Harness brokers among the test's fixture values (also ones fetched dynamically)."""
    seen: dict[int, KafkaCluster] = {}
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, KafkaCluster):
            seen[id(value)] = value
    return list(seen.values())


def _skip_unavailable(exc: BaseException) -> None:
    if isinstance(exc, Unavailable):
        pytest.skip(str(exc))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Any:
    try:
        return (yield)
    except Unavailable as exc:
        _skip_unavailable(exc)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    offsets = {}
    for cluster in _brokers_of(item):
        for path in cluster.log_paths:
            try:
                offsets[path] = path.stat().st_size
            except OSError:
                offsets[path] = 0
    item.stash[_log_offsets] = offsets
    try:
        return (yield)
    except Unavailable as exc:
        _skip_unavailable(exc)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Any:
    """Hand the shared brokers to the next test as this one found them: proxies forwarding
    normally and every node running (a node a test stopped or killed is restarted)."""
    result = yield
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, FakeKafka) and not value.closed:
            value.restart_stopped()
    for cluster in _brokers_of(item):
        if cluster.closed:  # the session is over
            continue
        for node in cluster.nodes.values():
            node.proxy.restore()
            if node.process is not None and not node.alive:
                cluster.restart(node.node_id)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        offsets = item.stash.get(_log_offsets, {})
        for cluster in _brokers_of(item):
            for node in cluster.nodes.values():
                since = offsets.get(node.log_path)
                text = tail(node.log_path, LOG_LINES, since=since) if since is not None else ""
                label = "written during the test"
                if not text.strip():
                    text, label = tail(node.log_path, 20), "last lines"
                state = "running" if node.alive else "not running"
                report.sections.append(
                    (f"kafka {cluster.name} node {node.node_id} ({state}) log, {label}: {node.log_path}", text)
                )
    return report
