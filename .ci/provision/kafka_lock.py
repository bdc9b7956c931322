"""Write the pinned jar list of the Kafka broker that generated projects download.

Maintainers run this when Kafka's version changes; nothing else does:

    python3 .ci/provision/kafka_lock.py 4.3.1

Maven resolves the runtime closure of ``kafka_2.13`` (the broker, with its storage tool)
plus a log4j2 backend for slf4j, with strict checksums. Every jar is then checked once
more against the SHA-1 that Maven Central publishes beside it, and its size and SHA-256
are written to the lock file the template renders into projects; the suite trusts a
download only if it matches that file. Needs ``mvn`` and network access to Maven Central.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "extensions"))
from catalog import KAFKA_JARS_LOCK as LOCK  # noqa: E402 - the one place that names it

CENTRAL = "https://repo.maven.apache.org/maven2/"
# slf4j-api 2 is pinned on purpose: Maven's nearest-wins rule would otherwise pick 1.7
# (through scala-logging), which cannot see the slf4j2 binding, and the broker would
# log nothing at all.
SLF4J = "2.0.17"
LOG4J = "2.24.3"

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>lock.local</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId>
      <version>{slf4j}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId>
      <version>{log4j}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{log4j}</version></dependency>
  </dependencies>
</project>
"""

HEADER = """\
# Apache Kafka {kafka}: every jar one KRaft broker needs (kafka_2.13 and its runtime
# dependencies, log4j {log4j} behind slf4j {slf4j}), as the suite's local provider downloads
# them from Maven Central when there is no KAFKA_HOME. A jar is used only if its size
# and SHA-256 match this file. Written by .ci/provision/kafka_lock.py; do not edit.
#
# groupId:artifactId:version bytes sha256
"""


def resolve(kafka: str) -> list[tuple[str, Path]]:
    """(group:artifact:version, jar in the local Maven repository), in Maven's order."""
    with tempfile.TemporaryDirectory() as work:
        pom = Path(work) / "pom.xml"
        pom.write_text(POM.format(kafka=kafka, slf4j=SLF4J, log4j=LOG4J))
        listing = Path(work) / "deps.txt"
        argv = [
            "mvn", "-B", "-q", "--strict-checksums", "-f", str(pom),
            "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:list",
            "-DincludeScope=runtime", f"-DoutputFile={listing}",
            "-DoutputAbsoluteArtifactFilename=true",
        ]  # fmt: skip
        subprocess.run(argv, check=True)
        jars = []
        for line in listing.read_text().splitlines():
            # "   group:artifact:jar:version:scope:/path/to.jar -- module ..."
            fields = line.strip().split(" ")[0].split(":")
            if len(fields) >= 6 and fields[2] == "jar":
                group, artifact, _, version, _scope = fields[:5]
                jars.append((f"{group}:{artifact}:{version}", Path(":".join(fields[5:]))))
        return jars


def central_sha1(coordinate: str) -> str:
    group, artifact, version = coordinate.split(":")
    url = f"{CENTRAL}{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}.jar.sha1"
    with urllib.request.urlopen(url, timeout=30) as answer:
        return str(answer.read().decode().split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kafka_version")
    kafka = parser.parse_args().kafka_version
    lines = [HEADER.format(kafka=kafka, log4j=LOG4J, slf4j=SLF4J)]
    total = 0
    for coordinate, jar in resolve(kafka):
        data = jar.read_bytes()
        if hashlib.sha1(data).hexdigest() != central_sha1(coordinate):
            sys.exit(f"{jar} does not match the SHA-1 Maven Central publishes for it")
        lines.append(f"{coordinate} {len(data)} {hashlib.sha256(data).hexdigest()}\n")
        total += len(data)
    LOCK.write_text("".join(lines))
    print(f"{LOCK.relative_to(REPO)}: {len(lines) - 1} jars, {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
