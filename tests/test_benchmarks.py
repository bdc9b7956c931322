"""The benchmarks are code too: every topic imports and parses its options, and the
report helper writes a result (with the load average) from whatever a run gathered.

A real benchmark run takes minutes and its numbers are not a correctness check; this
only keeps a run from failing at its end on a broken import or an empty result.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import peers, report, suite
from benchmarks.__main__ import TOPICS

from .conftest import REPO


def test_entry_point_lists_every_topic() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks"], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 2
    for topic in TOPICS:
        assert f"  {topic} " in done.stderr


@pytest.mark.parametrize("topic", sorted(TOPICS))
def test_topic_imports_and_parses_its_options(
    topic: str, capsys: pytest.CaptureFixture[str]
) -> None:
    module = importlib.import_module(f"benchmarks.{TOPICS[topic][0]}")
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    assert "usage: benchmarks" in capsys.readouterr().out


def test_an_empty_suite_result_is_written_with_the_machine_and_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    result = report.Report("suite", "A five-backend project", quick=True)
    result.data["backends"] = list(suite.BACKENDS)
    with result.stage("per-test costs"):
        raise RuntimeError("no server")  # a failed stage is reported, not raised
    markdown = result.write(suite.markdown(result.data)).read_text()

    assert "1-minute load average:" in markdown
    assert "per-test costs: RuntimeError: no server" in markdown
    assert "## Per-test cost against its floor" in markdown
    written = json.loads((tmp_path / "suite.json").read_text())
    assert written["errors"] == ["per-test costs: RuntimeError: no server"]
    assert set(written["load_average_1m"]["stages"]) == {"per-test costs"}


def test_peers_report_reads_each_clean_database_target_from_its_workload() -> None:
    def dist(p50: float) -> dict[str, float]:
        return {"n": 1, "p50": p50, "p99": p50}

    sides = {"ours": 1.0, "peer": 30.0, "peer_tuned": 20.0}
    per_test = {
        f"{kind}{part}": {side: dist(value * scale) for side, value in sides.items()}
        for kind in peers.CLEAN_KINDS
        for part, scale in (("", 10.0), (":fixture", 1.0), (":call", 5.0))
    }
    versions = dict.fromkeys([*peers.PACKAGES, "postgres_server", "redis_server"], "1")
    results = {
        "versions": versions,
        "run_as": "the current user",
        "per_test_ms": per_test,
        "runs_s": {},
        "targets": [],
        "server": {1: dist(19.0), 3: dist(9.5)},
    }

    lines = peers.markdown(results, tests=200)
    text = "\n".join(lines)

    assert "## Clean databases: the fixture's own overhead" in text
    for what in peers.CLEAN_KINDS.values():
        row = next(line for line in lines if line.startswith(f"| {what} |"))
        assert row.endswith("| 30.00x | 20.00x |")
    assert "1 at once 19.00, 3 at once 9.50" in text
    assert "faster than 9.50 ms" in text
