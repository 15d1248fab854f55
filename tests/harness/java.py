"""Running Kafka's Java classes: finding java, logging flags per version, tool class names.

Kafka 3.9 logs through reload4j and 4.x through log4j 2, so each needs its own configuration
flag and file (in ``ci/``). Tools get a quiet configuration writing warnings to stderr, so
their stdout holds only what the tool itself prints.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

from .jars import CI_DIR, MissingTool, check_version, fetch

TOOL_JVM_OPTS = ["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true"]

# Short names for the tools a test is likely to run, mapped per major version where the class
# moved (4.0 moved ConsoleProducer into kafka-tools, 4.4 moved ConfigCommand).
TOOLS: dict[str, dict[str, str]] = {
    "console-producer": {"3": "kafka.tools.ConsoleProducer", "4": "org.apache.kafka.tools.ConsoleProducer"},
    "console-consumer": {"*": "org.apache.kafka.tools.consumer.ConsoleConsumer"},
    "consumer-groups": {"*": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"},
    "topics": {"*": "org.apache.kafka.tools.TopicCommand"},
    "configs": {"3": "kafka.admin.ConfigCommand", "4": "org.apache.kafka.tools.ConfigCommand"},
    "acls": {"3": "kafka.admin.AclCommand", "4": "org.apache.kafka.tools.AclCommand"},
    "producer-perf-test": {"*": "org.apache.kafka.tools.ProducerPerformance"},
    "consumer-perf-test": {"*": "org.apache.kafka.tools.ConsumerPerformance"},
    "verifiable-producer": {"*": "org.apache.kafka.tools.VerifiableProducer"},
    "verifiable-consumer": {"*": "org.apache.kafka.tools.VerifiableConsumer"},
    "transactions": {"*": "org.apache.kafka.tools.TransactionsCommand"},
    "delete-records": {"*": "org.apache.kafka.tools.DeleteRecordsCommand"},
    "get-offsets": {"*": "org.apache.kafka.tools.GetOffsetShell"},
    "metadata-quorum": {"*": "org.apache.kafka.tools.MetadataQuorumCommand"},
    "features": {"*": "org.apache.kafka.tools.FeatureCommand"},
    "storage": {"*": "kafka.tools.StorageTool"},
}


def tool_class(version: str, name: str) -> str:
    """Resolve a short tool name (``console-producer``) to its class for ``version``.

    A fully qualified class name is returned unchanged.
    """
    if "." in name:
        return name
    key = name.removeprefix("kafka-").removesuffix(".sh")
    try:
        by_major = TOOLS[key]
    except KeyError:
        raise KeyError(f"unknown Kafka tool {name!r}; known: {', '.join(sorted(TOOLS))}") from None
    return by_major.get(version.split(".")[0]) or by_major["*"]


@functools.lru_cache(maxsize=1)
def find_java() -> str:
    """Path of a Java 17+ ``java`` (JAVA_HOME first, then PATH)."""
    home = os.environ.get("JAVA_HOME")
    candidates = [str(Path(home) / "bin" / "java")] if home else []
    on_path = shutil.which("java")
    if on_path:
        candidates.append(on_path)
    for java in candidates:
        if not os.access(java, os.X_OK):
            continue
        try:
            out = subprocess.run(
                [java, "-version"], capture_output=True, text=True, timeout=30, check=False
            ).stderr
        except (OSError, subprocess.TimeoutExpired):
            continue
        m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
        major = int(m.group(1)) if m else 0
        if major == 1 and m and m.group(2):
            major = int(m.group(2))
        if major >= 17:
            return java
        raise MissingTool(f"{java} is Java {major}; Kafka 4.x needs Java 17+: install a JDK 17 (e.g. 'apt-get install openjdk-17-jdk-headless')")
    raise MissingTool("no 'java' found: install a JDK 17+ (e.g. 'apt-get install openjdk-17-jdk-headless') or set JAVA_HOME")


def log_flags(version: str, *, tool: bool) -> list[str]:
    """System properties pointing Kafka's logging at the harness's configuration."""
    check_version(version)
    kind = "tools" if tool else "broker"
    if version.startswith("3."):
        return [f"-Dlog4j.configuration=file:{CI_DIR / f'log4j-{kind}.properties'}"]
    return [f"-Dlog4j2.configurationFile={CI_DIR / f'log4j2-{kind}.properties'}"]


def java_command(version: str, main: str, *args: str, jvm_opts: list[str] | None = None, tool: bool = True) -> list[str]:
    libs = fetch(version)
    opts = TOOL_JVM_OPTS if jvm_opts is None else jvm_opts
    return [find_java(), *opts, *log_flags(version, tool=tool), "-cp", str(libs / "*"), main, *args]


def run_tool(
    version: str,
    name: str,
    *args: str,
    timeout: float = 120.0,
    input: str | None = None,
    check: bool = False,
    env: dict[str, str] | None = None,
    jvm_opts: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a Kafka tool class to completion (text output captured; bounded by ``timeout``).

    The default JVM flags favour a quick start (C1 only, small heap); pass ``jvm_opts`` for
    long-running tools such as the perf tests.
    """
    cmd = java_command(version, tool_class(version, name), *args, jvm_opts=jvm_opts)
    return subprocess.run(
        cmd,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
        env=env,
        stdin=None if input is not None else subprocess.DEVNULL,
    )
