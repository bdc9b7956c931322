"""One shape for every benchmark's results: JSON and Markdown, with the machine and its load.

Timings on a shared machine mean little without the load they were taken under, so a
report records the 1-minute load average when it starts, at the start and end of each
stage and when it is written, next to the machine's cores, memory and Python.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cores": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "runner_python": platform.python_version(),
        "user": "root" if os.geteuid() == 0 else "unprivileged",
    }
    with contextlib.suppress(OSError, StopIteration):
        info["cpu_model"] = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    with contextlib.suppress(OSError):
        found = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
        if found:
            info["memory_gib"] = round(int(found[1]) / 1024 / 1024, 1)
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        uv = subprocess.run(["uv", "--version"], capture_output=True, text=True, check=True)
        info["uv"] = uv.stdout.strip()
    return info


@dataclass
class Report:
    """Results of one benchmark topic, written to ``benchmarks/results/<topic>.{json,md}``."""

    topic: str
    title: str
    quick: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=machine_info)
    load: dict[str, Any] = field(default_factory=lambda: {"start": load_average(), "stages": {}})
    started: float = field(default_factory=time.perf_counter)
    time_utc: str = field(
        default_factory=lambda: time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    )

    def __post_init__(self) -> None:
        log(f"{self.topic}: {self.machine['cores']} cores, load average {self.load['start']}")

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Run one stage; a failure is recorded and the next stage still runs."""
        log(f"{self.topic}: {name}")
        self.load["stages"][name] = {"start": load_average()}
        try:
            yield
        except Exception as error:  # a benchmark reports what failed and carries on
            self.errors.append(f"{name}: {type(error).__name__}: {error}")
            log(f"{self.topic}: {name} failed: {error}")
        finally:
            self.load["stages"][name]["end"] = load_average()

    def header(self) -> list[str]:
        m = self.machine
        stages = "; ".join(
            f"{name} {value['start']}-{value.get('end', '?')}"
            for name, value in self.load["stages"].items()
        )
        lines = [
            f"# {self.title}",
            "",
            f"Run {self.time_utc} ({'quick' if self.quick else 'full'} mode), "
            f"{self.data.get('wall_s', 0):.0f} s. {m['cores']} cores "
            f"({m.get('cpu_model', '?')}), {m.get('memory_gib', '?')} GiB, "
            f"runner Python {m['runner_python']}, {m.get('uv', 'uv ?')}, as {m['user']}.",
            "",
            f"1-minute load average: {self.load['start']} at the start, "
            f"{self.load.get('end', '?')} at the end"
            + (f" (each stage, start-end: {stages})." if stages else "."),
            "",
        ]
        return lines

    def write(self, body: list[str]) -> Path:
        """Write JSON and Markdown (header, ``body``, errors, notes); print the Markdown."""
        self.load["end"] = load_average()
        self.data["wall_s"] = time.perf_counter() - self.started
        lines = self.header() + body
        if self.errors:
            lines += ["", "## Errors", "", *(f"- {error}" for error in self.errors)]
        if self.notes:
            lines += ["", "## Notes", "", *(f"- {note}" for note in self.notes)]
        RESULTS.mkdir(exist_ok=True)
        document = {
            "topic": self.topic,
            "time_utc": self.time_utc,
            "quick": self.quick,
            "machine": self.machine,
            "load_average_1m": self.load,
            "errors": self.errors,
            "notes": self.notes,
            **self.data,
        }
        (RESULTS / f"{self.topic}.json").write_text(json.dumps(document, indent=2) + "\n")
        markdown = RESULTS / f"{self.topic}.md"
        markdown.write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
        log(f"wrote {markdown} and {self.topic}.json")
        return markdown
