"""``python -m tests.harness`` (also ``./dev kafka``): fetch the Kafka jars, or run a broker
or a three-node cluster by hand until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time

from .broker import KafkaCluster
from .jars import VERSIONS, HarnessError, chosen_version, fetch, is_cached, libs_dir
from .java import java_command, tool_class


def cmd_fetch(args: argparse.Namespace) -> int:
    versions = [args.version] if args.version else list(VERSIONS)
    for version in versions:
        if is_cached(version):
            print(f"kafka {version}: cached in {libs_dir(version)}")
        else:
            fetch(version, log=True)
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    version = args.version or chosen_version()
    size = args.size or (3 if args.cluster else 1)
    # Ctrl-C and SIGTERM both stop cleanly (SIGINT explicitly: a shell's background job
    # starts with it ignored, and then Python would not raise KeyboardInterrupt).
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    print(f"starting {'a ' + str(size) + '-node cluster' if size > 1 else 'a broker'} of Kafka {version} ...", flush=True)
    cluster = KafkaCluster(version, size)
    try:
        cluster.start()
        print(cluster.describe())
        print(f"started in {cluster.start_seconds:.1f}s; run the tests against it with:")
        print(f"  KPROTO_BOOTSTRAP={cluster.bootstrap} KPROTO_KAFKA_VERSION={version} ./dev test")
        print("Ctrl-C stops it.", flush=True)
        reported: set[int] = set()
        while True:
            for node in cluster.nodes.values():
                if node.process is not None and not node.alive and node.node_id not in reported:
                    reported.add(node.node_id)
                    print(f"node {node.node_id} exited ({node.process.returncode}); log {node.log_path}", flush=True)
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("stopping ...", flush=True)
        cluster.close()
    return 0


def cmd_tool(args: argparse.Namespace) -> int:
    """Run a tool attached to this terminal (so console-producer reads what you type)."""
    version = args.version or chosen_version()
    cmd = java_command(version, tool_class(version, args.name), *args.args)
    try:
        return subprocess.run(cmd, check=False).returncode
    except KeyboardInterrupt:
        return 130


def cmd_classpath(args: argparse.Namespace) -> int:
    version = args.version or chosen_version()
    fetch(version)
    print(f"{libs_dir(version)}/*")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.harness",
        description="Real Apache Kafka brokers for kproto's tests (see docs/testing.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("fetch", help=f"download the Kafka jars once ({', '.join(VERSIONS)}) into the cache")
    p.add_argument("--version", choices=VERSIONS, help="only this version")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("start", help="run a broker (or --cluster) until Ctrl-C, printing its listeners")
    p.add_argument("--version", choices=VERSIONS, help="Kafka version (default: $KPROTO_KAFKA_VERSION or the newest)")
    p.add_argument("--cluster", action="store_true", help="three combined broker+controller nodes")
    p.add_argument("--size", type=int, help="number of nodes (overrides --cluster)")
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("tool", help="run a Kafka tool, e.g. 'tool topics --bootstrap-server H:P --list'")
    p.add_argument("--version", choices=VERSIONS)
    p.add_argument("name", help="short name (console-producer, topics, configs, ...) or a class name")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_tool)

    p = sub.add_parser("classpath", help="print the jar directory of a version (for java -cp)")
    p.add_argument("--version", choices=VERSIONS)
    p.set_defaults(func=cmd_classpath)

    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
