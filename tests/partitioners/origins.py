"""Where the partitioner test vectors come from, and how to make them again.

Each origin client computes partitions for the same keys (``vectors/keys.txt``) and the same
partition counts (:data:`COUNTS`); the results are committed under ``vectors/`` so the unit
tests need nothing but Python. The ``interop`` tests rerun the origins and compare:

* the Java client (kafka-clients 3.9.2, fetched with Maven into the cache):
  ``tests/java/murmur/Murmur.java`` prints ``Utils.murmur2`` and ``toPositive(...) % n``;
* sarama (the Go module, through the Go toolchain): ``tests/go/partitioners`` prints its
  hash, reference hash, CRC, murmur2 and custom-hash partitioners, their consistency flags
  and a round-robin sequence;
* librdkafka (bundled with confluent-kafka): a producer per partitioner against librdkafka's
  mock cluster, reading the partitions from the delivery reports.

Regenerate the committed files with ``python -m tests.partitioners.origins [names...]``
(names: keys, java, sarama, librdkafka; none means all but keys).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import glob
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VECTORS = HERE / "vectors"
KEYS_FILE = VECTORS / "keys.txt"
JAVA_SOURCE = REPO / "tests" / "java" / "murmur" / "Murmur.java"
GO_PROGRAM = REPO / "tests" / "go" / "partitioners"

KAFKA_CLIENTS_VERSION = "3.9.2"
SLF4J_VERSION = "1.7.36"  # what kafka-clients 3.9.2 depends on; its Utils class loads it

COUNTS = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 31, 32, 50, 100, 1000)
"""Partition counts every origin is asked about."""

ROUND_ROBIN_COUNTS = (3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 5, 5, 5, 5, 5, 5, 1, 1, 4, 4, 4, 2, 3, 4, 5, 6,
                      7, 7, 7, 7, 7, 7, 7, 7)
"""Candidate counts fed to a fresh round-robin partitioner, one call each."""

LIBRDKAFKA_PARTITIONERS = ("consistent", "consistent_random", "murmur2", "murmur2_random",
                           "fnv1a", "fnv1a_random")
RANDOM = "random"
"""Marks a librdkafka vector whose key went to a random partition."""
NULL_KEY = "null"
"""The key column's value for a null key in the librdkafka vectors."""


class OriginUnavailable(Exception):
    """The origin client cannot run here (tool missing, download failed)."""


# -- keys ---------------------------------------------------------------------------------


def make_keys() -> list[bytes]:
    """The fixed key set: empty, 1..20 bytes (ASCII and high-bit), non-ASCII, long keys."""
    keys: list[bytes] = [b""]
    alphabet = b"abcdefghijklmnopqrstuvwxyz"
    keys += [alphabet[:n] for n in range(1, 21)]
    keys += [bytes((0xFF - 37 * i) & 0xFF for i in range(n)) for n in range(1, 21)]
    keys += [f"key-{i}".encode() for i in range(10)]
    keys += [b"foo", b"bar", b"hello world", b"user-42", b"order:123456", b"0", b"1", b"-1",
             b"123e4567-e89b-12d3-a456-426614174000", b"kafka", b"giberish123456789",
             b"1234", b"234", b"34", b"4", b"PreAmbleWillBeRemoved,ThePrePartThatIs"]
    keys += [s.encode() for s in ("é", "naïve café", "ключ", "キー", "键", "😀", "Ωμέγα-Ω")]
    keys += [b"\xe9", b"\x00", b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x80", b"\x7f\xff"]
    keys += [b"x" * 100, bytes(range(256)), bytes((i * 7 + 3) & 0xFF for i in range(1000)),
             b"0123456789abcdef" * 256 + b"xyz"]
    return keys


def keys_text(keys: list[bytes]) -> str:
    lines = ["# One key per line: 'k:' then the key bytes in hex ('k:' alone is the empty key).",
             "# Made by tests/partitioners/origins.py make_keys()."]
    lines += ["k:" + key.hex() for key in keys]
    return "\n".join(lines) + "\n"


def read_keys() -> list[bytes]:
    return [bytes.fromhex(line[2:]) for line in KEYS_FILE.read_text().splitlines()
            if line.startswith("k:")]


def read_tsv(name: str) -> list[dict[str, str]]:
    """A committed vector file as rows keyed by its header."""
    lines = (VECTORS / name).read_text().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]


# -- running the origins ------------------------------------------------------------------


def cache_root() -> Path:
    return Path(os.environ.get("KPROTO_CACHE") or "~/.cache/kproto").expanduser()


def _run(cmd: list[str], *, cwd: Path | None = None, stdin: str | None = None,
         timeout: float = 600, env: dict[str, str] | None = None) -> str:
    try:
        proc = subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True, text=True,
                              timeout=timeout, check=False, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OriginUnavailable(f"{cmd[0]}: {exc}") from exc
    if proc.returncode != 0:
        raise OriginUnavailable(f"{' '.join(cmd[:3])} failed ({proc.returncode}):\n"
                                f"{proc.stderr[-3000:]}")
    return proc.stdout


def java_classpath() -> str:
    """kafka-clients and slf4j-api jars in the cache, fetched with Maven when missing."""
    java_dir = cache_root() / "java"
    jars = [java_dir / f"kafka-clients-{KAFKA_CLIENTS_VERSION}.jar",
            java_dir / f"slf4j-api-{SLF4J_VERSION}.jar"]
    artifacts = [f"org.apache.kafka:kafka-clients:{KAFKA_CLIENTS_VERSION}",
                 f"org.slf4j:slf4j-api:{SLF4J_VERSION}"]
    for jar, artifact in zip(jars, artifacts, strict=True):
        if jar.is_file():
            continue
        mvn = shutil.which("mvn")
        if mvn is None:
            raise OriginUnavailable("Maven (mvn) is not installed; it fetches kafka-clients")
        java_dir.mkdir(parents=True, exist_ok=True)
        _run([mvn, "-q", "-B", "dependency:copy", f"-Dartifact={artifact}",
              f"-DoutputDirectory={java_dir}"], cwd=java_dir)
        if not jar.is_file():
            raise OriginUnavailable(f"Maven did not produce {jar}")
    return os.pathsep.join(str(j) for j in jars)


def java_vectors() -> str:
    java = shutil.which("java")
    if java is None:
        raise OriginUnavailable("java is not installed")
    classpath = java_classpath()
    return _run([java, "-cp", classpath, str(JAVA_SOURCE), *map(str, COUNTS)],
                stdin=KEYS_FILE.read_text())


def _go(*args: str, stdin: str | None = None) -> str:
    go = shutil.which("go")
    if go is None:
        raise OriginUnavailable("the Go toolchain is not installed")
    env = dict(os.environ, GOFLAGS="-mod=readonly -buildvcs=false")
    return _run([go, "run", ".", *args], cwd=GO_PROGRAM, stdin=stdin, env=env)


def sarama_hash_vectors() -> str:
    return _go("hash", *map(str, COUNTS), stdin=KEYS_FILE.read_text())


def sarama_consistency_vectors() -> str:
    return _go("consistency")


def sarama_round_robin_vectors() -> str:
    return _go("round-robin", *map(str, ROUND_ROBIN_COUNTS))


@functools.lru_cache(maxsize=1)
def _librdkafka() -> ctypes.CDLL:
    """The librdkafka that confluent-kafka loads (its wheel bundles one)."""
    try:
        import confluent_kafka
    except ImportError as exc:
        raise OriginUnavailable("confluent-kafka is not installed") from exc
    site = Path(confluent_kafka.__file__).resolve().parent.parent
    found = sorted(glob.glob(str(site / "confluent_kafka.libs" / "librdkafka*.so*")))
    path = found[0] if found else ctypes.util.find_library("rdkafka")
    if not path:
        raise OriginUnavailable("cannot find the librdkafka library confluent-kafka uses")
    lib = ctypes.CDLL(path)
    vp, cp, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    for name, res, args in (
        ("rd_kafka_conf_new", vp, []),
        ("rd_kafka_conf_set", i, [vp, cp, cp, cp, ctypes.c_size_t]),
        ("rd_kafka_new", vp, [i, vp, cp, ctypes.c_size_t]),
        ("rd_kafka_destroy", None, [vp]),
        ("rd_kafka_mock_cluster_new", vp, [vp, i]),
        ("rd_kafka_mock_cluster_destroy", None, [vp]),
        ("rd_kafka_mock_cluster_bootstraps", cp, [vp]),
        ("rd_kafka_mock_topic_create", i, [vp, cp, i, i]),
    ):
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    return lib


def librdkafka_vectors() -> str:
    """Each librdkafka partitioner's choice for every key (and a null key) and count.

    A mock cluster is made through librdkafka's C API (topics ``p<n>`` with n partitions);
    producers from confluent-kafka connect to it. Null and empty keys are sent 24 times: a
    key seen on more than one partition for some count is marked ``random``.
    """
    lib = _librdkafka()
    from confluent_kafka import Producer

    conf = lib.rd_kafka_conf_new()
    err = ctypes.create_string_buffer(512)
    lib.rd_kafka_conf_set(conf, b"log_level", b"3", err, len(err))
    rk = lib.rd_kafka_new(0, conf, err, len(err))  # a bare handle to host the cluster
    if not rk:
        raise OriginUnavailable(f"rd_kafka_new: {err.value.decode()}")
    mcluster = lib.rd_kafka_mock_cluster_new(rk, 1)
    try:
        if not mcluster:
            raise OriginUnavailable("librdkafka could not start its mock cluster")
        bootstrap = lib.rd_kafka_mock_cluster_bootstraps(mcluster).decode()
        for n in COUNTS:
            if lib.rd_kafka_mock_topic_create(mcluster, f"p{n}".encode(), n, 1) != 0:
                raise OriginUnavailable(f"mock cluster refused topic p{n}")
        keys: list[bytes | None] = [None, *read_keys()]
        out = ["partitioner\tkey\t" + "\t".join(f"n={n}" for n in COUNTS)]
        for name in LIBRDKAFKA_PARTITIONERS:
            seen = _produce_all(Producer, bootstrap, name, keys)
            for ki, key in enumerate(keys):
                per_count = [seen[(ki, n)] for n in COUNTS]
                if any(len(s) > 1 for s in per_count):
                    cells = [RANDOM] * len(COUNTS)
                else:
                    cells = [str(next(iter(s))) for s in per_count]
                label = NULL_KEY if key is None else key.hex()
                out.append("\t".join([name, label, *cells]))
        return "\n".join(out) + "\n"
    finally:
        if mcluster:
            lib.rd_kafka_mock_cluster_destroy(mcluster)
        lib.rd_kafka_destroy(rk)


def _produce_all(producer_class: Callable[..., object], bootstrap: str, name: str,
                 keys: list[bytes | None]) -> dict[tuple[int, int], set[int]]:
    producer = producer_class({"bootstrap.servers": bootstrap, "partitioner": name,
                               "linger.ms": 5, "sticky.partitioning.linger.ms": 0,
                               "log_level": 3})
    seen: dict[tuple[int, int], set[int]] = {(ki, n): set() for ki in range(len(keys))
                                             for n in COUNTS}
    failures: list[str] = []

    def report(ki: int, n: int, err: object, msg: object) -> None:
        if err is not None:
            failures.append(str(err))
        else:
            seen[(ki, n)].add(msg.partition())  # type: ignore[attr-defined]

    for n in COUNTS:
        for ki, key in enumerate(keys):
            repeats = 24 if not key else 1
            for _ in range(repeats):
                producer.produce(f"p{n}", value=b"v", key=key,  # type: ignore[attr-defined]
                                 on_delivery=functools.partial(report, ki, n))
                producer.poll(0)  # type: ignore[attr-defined]
    remaining = producer.flush(60)  # type: ignore[attr-defined]
    if remaining or failures:
        raise OriginUnavailable(f"librdkafka {name}: {remaining} undelivered, "
                                f"errors: {failures[:3]}")
    return seen


GENERATORS: dict[str, dict[str, Callable[[], str]]] = {
    "java": {"java_murmur2.tsv": java_vectors},
    "sarama": {"sarama_hash.tsv": sarama_hash_vectors,
               "sarama_consistency.tsv": sarama_consistency_vectors,
               "sarama_round_robin.tsv": sarama_round_robin_vectors},
    "librdkafka": {"librdkafka.tsv": librdkafka_vectors},
}


def main(argv: list[str]) -> int:
    names = argv or list(GENERATORS)
    if "keys" in names:
        KEYS_FILE.write_text(keys_text(make_keys()))
        print(f"wrote {KEYS_FILE.relative_to(REPO)}")
        names = [n for n in names if n != "keys"]
    for name in names:
        for filename, generate in GENERATORS[name].items():
            (VECTORS / filename).write_text(generate())
            print(f"wrote {(VECTORS / filename).relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
