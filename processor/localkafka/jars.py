"""The Apache Kafka broker's classpath, resolved once from Maven Central with Maven.

The jars live in a Maven repository inside lead-router's cache, and the resolved classpath is kept
beside it; a later run that finds every jar on that classpath runs no Maven at all, so it needs no
network. Deleting the cache folder is how to start cold.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from processor.cache import cache_dir
from processor.errors import MissingTool, ServiceUnavailable

KAFKA_VERSION = "4.1.2"
"""The pinned Apache Kafka release the embedded broker runs."""

MAVEN_TIMEOUT_S = 900


def kafka_home(version: str = KAFKA_VERSION) -> Path:
    return cache_dir() / "kafka" / version


def broker_classpath(version: str = KAFKA_VERSION, *, quiet: bool = False) -> str:
    """The broker's Java classpath, resolving the jars with Maven when the cache lacks any."""
    home = kafka_home(version)
    classpath_file = home / "classpath.txt"
    if classpath_file.exists():
        classpath = classpath_file.read_text().strip()
        if classpath and all(Path(jar).is_file() for jar in classpath.split(":")):
            return classpath
    _resolve(version, home, classpath_file, quiet=quiet)
    return classpath_file.read_text().strip()


def _resolve(version: str, home: Path, classpath_file: Path, *, quiet: bool) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MissingTool(
            "Maven (mvn) is needed once to fetch the Kafka broker's jars from Maven Central; "
            "install it (Debian/Ubuntu: apt-get install maven; macOS: brew install maven) "
            "or point KAFKA_BOOTSTRAP_SERVERS / --bootstrap-servers at a running broker"
        )
    home.mkdir(parents=True, exist_ok=True)
    pom = home / "pom.xml"
    template = resources.files("processor.localkafka").joinpath("pom.xml").read_text()
    pom.write_text(template.replace("@KAFKA_VERSION@", version))
    if not quiet:
        print(f"resolving Apache Kafka {version} jars from Maven Central ...", file=sys.stderr)
    command = [
        mvn,
        "--batch-mode",
        "--quiet",
        "--file",
        str(pom),
        f"-Dmaven.repo.local={cache_dir() / 'maven'}",
        "dependency:build-classpath",
        "-Dmdep.includeScope=runtime",
        f"-Dmdep.outputFile={classpath_file}",
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=MAVEN_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ServiceUnavailable(
            f"Maven did not finish resolving the Kafka jars within {MAVEN_TIMEOUT_S} s; "
            "check that Maven Central is reachable"
        ) from exc
    if done.returncode != 0 or not classpath_file.exists():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise ServiceUnavailable(f"Maven could not resolve the Kafka {version} jars:\n{tail}")
