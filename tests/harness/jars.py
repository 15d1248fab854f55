"""Apache Kafka jars for the test harness, assembled once with Maven and cached outside the repo.

``ci/kafka-pom.xml`` has one profile per pinned version; Maven copies the runtime classpath of
the broker and the tools into ``<cache>/kafka/<version>/libs``. A ``COMPLETE`` marker holding a
hash of the POM is written last, so an interrupted fetch is redone, a changed POM refetches,
and a completed one is reused without starting Maven at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

VERSIONS = ("3.9.2", "4.4.0")
DEFAULT_VERSION = "4.4.0"
REPO_ROOT = Path(__file__).resolve().parents[2]
CI_DIR = REPO_ROOT / "ci"
POM = CI_DIR / "kafka-pom.xml"
MAVEN_TIMEOUT = 900.0


class HarnessError(Exception):
    """The harness could not provide what was asked (the message says why)."""


class MissingTool(HarnessError):
    """A program the harness needs (java, mvn) is not installed."""


def cache_root() -> Path:
    return Path(os.environ.get("KPROTO_CACHE") or "~/.cache/kproto").expanduser()


def chosen_version() -> str:
    """The Kafka version selected by KPROTO_KAFKA_VERSION (default: the newest pinned)."""
    version = os.environ.get("KPROTO_KAFKA_VERSION", "").strip() or DEFAULT_VERSION
    check_version(version)
    return version


def check_version(version: str) -> None:
    if version not in VERSIONS:
        raise HarnessError(
            f"Kafka version {version!r} is not pinned; choose one of {', '.join(VERSIONS)} "
            f"(a new version needs a profile in {POM.relative_to(REPO_ROOT)})"
        )


def version_dir(version: str) -> Path:
    return cache_root() / "kafka" / version


def libs_dir(version: str) -> Path:
    return version_dir(version) / "libs"


def _pom_digest(version: str) -> str:
    return hashlib.sha256(POM.read_bytes() + version.encode()).hexdigest()


def is_cached(version: str) -> bool:
    marker = version_dir(version) / "COMPLETE"
    try:
        return marker.read_text().strip() == _pom_digest(version)
    except OSError:
        return False


def find_maven() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MissingTool(
            "Apache Maven ('mvn') is needed once to download the Kafka jars: install it "
            "(e.g. 'apt-get install maven') or put a populated cache in $KPROTO_CACHE"
        )
    return mvn


def fetch(version: str, *, log: bool = False) -> Path:
    """Return the libs directory for ``version``, running Maven only if it is not cached."""
    check_version(version)
    libs = libs_dir(version)
    if is_cached(version):
        return libs
    mvn = find_maven()
    vdir = version_dir(version)
    vdir.mkdir(parents=True, exist_ok=True)
    with open(vdir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be fetching the same version
        if is_cached(version):
            return libs
        started = time.monotonic()
        if log:
            print(f"kafka {version}: fetching jars with Maven into {libs}", flush=True)
        for partial in vdir.glob("libs.partial-*"):  # left by an interrupted fetch (we hold the lock)
            shutil.rmtree(partial, ignore_errors=True)
        staging = vdir / f"libs.partial-{os.getpid()}"
        (vdir / "COMPLETE").unlink(missing_ok=True)
        cmd = [
            mvn,
            "-q",
            "-B",
            "--no-transfer-progress",
            "-Dstyle.color=never",
            "-f",
            str(POM),
            f"-Pkafka-{version}",
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            "-Dmdep.prependGroupId=true",
            f"-DoutputDirectory={staging}",
        ]
        try:
            proc = subprocess.run(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=MAVEN_TIMEOUT,
                cwd=str(REPO_ROOT),
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise HarnessError(f"Maven did not finish within {MAVEN_TIMEOUT:.0f}s fetching Kafka {version}") from exc
        if proc.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise HarnessError(
                f"Maven failed (exit {proc.returncode}) fetching Kafka {version}:\n"
                f"  {' '.join(cmd)}\n{_tail(proc.stdout, 60)}"
            )
        _check_jars(version, staging, proc.stdout)
        _retire(vdir, libs)
        staging.rename(libs)
        (vdir / "COMPLETE").write_text(_pom_digest(version) + "\n")
        if log:
            print(f"kafka {version}: {len(list(libs.iterdir()))} jars in {time.monotonic() - started:.1f}s", flush=True)
        return libs


def _retire(vdir: Path, libs: Path) -> None:
    """Move an outdated libs directory aside instead of deleting it: a broker started from it
    may still be loading classes. Retired copies older than a day are removed."""
    for old in vdir.glob("libs.retired-*"):
        with contextlib.suppress(OSError):
            if time.time() - old.stat().st_mtime > 86400:
                shutil.rmtree(old, ignore_errors=True)
    if libs.exists():
        libs.rename(vdir / f"libs.retired-{int(time.time())}-{os.getpid()}")


def _check_jars(version: str, libs: Path, output: str) -> None:
    names = {p.name for p in libs.glob("*.jar")}
    wanted = [f"org.apache.kafka.kafka_2.13-{version}.jar", f"org.apache.kafka.kafka-tools-{version}.jar"]
    binding = "org.slf4j.slf4j-reload4j-" if version.startswith("3.") else "org.apache.logging.log4j.log4j-slf4j-impl-"
    problems = [f"missing {w}" for w in wanted if w not in names]
    if not any(n.startswith(binding) for n in names):
        problems.append(f"no logging binding ({binding}*.jar)")
    if problems:
        shutil.rmtree(libs, ignore_errors=True)
        raise HarnessError(f"Kafka {version} classpath incomplete: {'; '.join(problems)}\n{_tail(output, 40)}")


def _tail(text: str, lines: int) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # Maven colours some lines even in batch mode
    return "\n".join(line for line in text.rstrip().splitlines()[-lines:] if line.strip())


def fetch_all(*, log: bool = True) -> dict[str, Path]:
    return {v: fetch(v, log=log) for v in VERSIONS}


def classpath(version: str) -> str:
    return str(libs_dir(version) / "*")
