"""Run small Java programs against the Java Kafka client (kafka-clients), for interop tests.

The jars live in ``${KPROTO_CACHE:-~/.cache/kproto}/java/`` and are fetched with Maven the
first time (never into the repository). Missing java or mvn skips the caller, except with
CI=true where it fails: CI must prove interop, not skip it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

KAFKA_CLIENTS_VERSION = "3.9.2"
JARS = {
    f"kafka-clients-{KAFKA_CLIENTS_VERSION}.jar": f"org.apache.kafka:kafka-clients:{KAFKA_CLIENTS_VERSION}",
    "slf4j-api-1.7.36.jar": "org.slf4j:slf4j-api:1.7.36",
}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def cache_dir() -> Path:
    return Path(os.environ.get("KPROTO_CACHE", "~/.cache/kproto")).expanduser() / "java"


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"CI=true and the Java interop check cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def java_classpath() -> str:
    """The class path holding kafka-clients, fetching the jars with Maven when missing."""
    if shutil.which("java") is None:
        _unavailable("java is not installed")
    directory = cache_dir()
    missing = {jar: coord for jar, coord in JARS.items() if not (directory / jar).is_file()}
    if missing:
        mvn = shutil.which("mvn")
        if mvn is None:
            _unavailable(f"mvn is not installed and {', '.join(missing)} is not cached")
        directory.mkdir(parents=True, exist_ok=True)
        for coord in missing.values():
            proc = subprocess.run(
                [
                    mvn,
                    "-q",
                    "-B",
                    "dependency:copy",
                    f"-Dartifact={coord}",
                    f"-DoutputDirectory={directory}",
                ],
                capture_output=True,
                text=True,
                timeout=900,
                cwd=directory,
            )
            if proc.returncode != 0:
                pytest.fail(
                    f"mvn could not fetch {coord}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
                )
    return os.pathsep.join(str(directory / jar) for jar in JARS)


def run_java_source(source: Path, *args: str, timeout: float = 300) -> str:
    """Launch a single-file Java program with kafka-clients on the class path; its stdout."""
    classpath = java_classpath()
    proc = subprocess.run(
        ["java", "-cp", classpath, str(source), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        pytest.fail(f"{source.name} failed ({proc.returncode}):\n{proc.stderr[-5000:]}")
    return proc.stdout
