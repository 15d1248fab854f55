"""One combined broker+controller JVM: its ports, FAULTY proxy, process and log."""

from __future__ import annotations

import contextlib
import datetime
import functools
import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .jars import HarnessError
from .java import find_java, log_flags
from .proxy import FaultProxy
from .runs import tail

if TYPE_CHECKING:
    from .broker import KafkaCluster

HOST = "127.0.0.1"
PORT_NAMES = ("PLAINTEXT", "SASL_PLAINTEXT", "SSL", "FAULTY", "CONTROLLER")

_handed_out: set[int] = set()
_ports_lock = threading.Lock()


def free_port() -> int:
    """A port that is free now and that this process has not handed out before."""
    with _ports_lock:
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((HOST, 0))
                port = s.getsockname()[1]
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise HarnessError("could not find a free port")


def _pdeathsig_prefix() -> list[str]:
    """``setpriv --pdeathsig KILL``: the JVM dies with the thread that spawned it.

    Only used from the main thread (it lives as long as the process); a JVM started from a
    worker thread would otherwise die when that thread ends.
    """
    if threading.current_thread() is not threading.main_thread():
        return []
    return _setpriv()


@functools.lru_cache(maxsize=1)
def _setpriv() -> list[str]:
    """The prefix if this system's setpriv knows --pdeathsig (util-linux 2.33+), else []."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return []
    prefix = [setpriv, "--pdeathsig", "KILL"]
    try:
        ok = subprocess.run([*prefix, "true"], capture_output=True, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return prefix if ok else []


class Node:
    """One combined broker+controller JVM, its ports, its FAULTY proxy and its log."""

    def __init__(self, cluster: KafkaCluster, node_id: int, directory: Path) -> None:
        self.cluster = cluster
        self.node_id = node_id
        self.dir = directory
        self.data_dir = directory / "data"
        self.config_path = directory / "server.properties"
        self.log_path = directory / "server.out"
        self.ports = {name: free_port() for name in PORT_NAMES}
        self.proxy = FaultProxy(HOST, self.ports["FAULTY"], name=f"faulty-{cluster.name}-{node_id}")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def listeners(self) -> dict[str, tuple[str, int]]:
        """Client listeners: name -> (host, port); FAULTY is the proxy's address."""
        out = {name: (HOST, self.ports[name]) for name in ("PLAINTEXT", "SASL_PLAINTEXT", "SSL")}
        out["FAULTY"] = self.proxy.address
        return out

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.ports['PLAINTEXT']}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(self) -> list[str]:
        v = self.cluster.version
        return [
            *_pdeathsig_prefix(),
            find_java(),
            *self.cluster.jvm_opts,
            *log_flags(v, tool=False),
            f"-Dkafka.logs.dir={self.dir}",
            "-cp",
            str(self.cluster.libs_dir / "*"),
            "kafka.Kafka",
            str(self.config_path),
        ]

    def start(self) -> None:
        if self.alive:
            raise HarnessError(f"node {self.node_id} is already running (pid {self.pid})")
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== harness: starting node {self.node_id} at {datetime.datetime.now()} ===\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(self.dir),
                start_new_session=True,  # Ctrl-C in a terminal reaches Python, which stops us
            )
        (self.dir / "pid").write_text(str(self.process.pid))

    def signal(self, sig: int) -> None:
        if self.alive:
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)

    def wait_exit(self, timeout: float) -> bool:
        if self.process is None:
            return True
        try:
            self.process.wait(timeout=max(0.0, timeout))
        except subprocess.TimeoutExpired:
            return False
        with contextlib.suppress(OSError):
            (self.dir / "pid").unlink()
        return True

    def log_tail(self, lines: int = 60) -> str:
        return tail(self.log_path, lines)

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.alive else "down"
        return f"<kafka node {self.node_id} {self.bootstrap} {state}>"
