"""A 2-shard CI run for real, with the commands the generated workflows run, read from them.

One project (``ci_shards: 2``, GitHub) is rendered and synced once. Its suite runs as
shard 1 of 2 with the test command of its GitHub workflow and as shard 2 of 2 with the
command of the GitLab workflow rendered from the same answers: each workflow runs one
command with its own shard index, so taking a shard from each checks the two against
each other without running the suite four times. Then it runs unsharded, with the
command of a ``ci_shards: 1`` workflow. The shards must together run exactly the
unsharded run's tests, none twice, all passing and none skipped (CI=true). Service
containers are the CI's; here the local provider stands in for them.

The shards' coverage data is then combined by both workflows' coverage jobs, in a copy
of the project elsewhere (as on another runner): the threshold holds on the total, which
is above either shard's own; the threshold is enforced; a shard's missing data fails
the combination by name. Last, with the durations the unsharded run recorded, the
workflow's split is checked again (collection only) and its balance printed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
import xml.etree.ElementTree as ET
import zlib
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import render
from .test_generated_suites import junit_outcomes, synced

pytestmark = pytest.mark.slow

ANSWERS: dict[str, Any] = {"python_version": "3.11", "ci_shards": 2}
GITHUB_WORKFLOW = ".github/workflows/tests.yml"
GITLAB_CI = ".gitlab-ci.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")


def github_job(project: Path, job: str, values: Mapping[str, str]) -> list[str]:
    """The shell commands of a job of the project's GitHub workflow, its ``${{ }}``
    expressions replaced by ``values``; an expression not in ``values`` fails the test."""
    steps = yaml.safe_load((project / GITHUB_WORKFLOW).read_text())["jobs"][job]["steps"]

    def value(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            pytest.fail(f"{GITHUB_WORKFLOW} uses ${{{{ {match.group(1)} }}}}, new to this test")
        return values[match.group(1)]

    return [EXPRESSION.sub(value, step["run"]) for step in steps if "run" in step]


def gitlab_job(project: Path, job: str) -> list[str]:
    """The script lines of a job of the project's GitLab CI file."""
    script: list[str] = yaml.safe_load((project / GITLAB_CI).read_text())[job]["script"]
    return script


def run_job(
    commands: list[str], cwd: Path, env: Mapping[str, str]
) -> list[subprocess.CompletedProcess[str]]:
    """Run the commands in bash as CI does (-e, pipefail), stopping at the first failure."""
    done = []
    for command in commands:
        bash = ["bash", "-eo", "pipefail", "-c", command]
        done.append(
            subprocess.run(bash, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        )
        if done[-1].returncode != 0:
            break
    return done


def output(done: list[subprocess.CompletedProcess[str]]) -> str:
    """What the commands printed, each after its command line, for failure messages."""
    return "".join(f"$ {run.args[-1]}\n{run.stdout[-5000:]}{run.stderr[-3000:]}" for run in done)


def junit_tests(report: Path) -> list[str]:
    """The tests a JUnit report lists, as ``classname::name``."""
    cases = ET.parse(report).getroot().iter("testcase")
    return [f"{case.get('classname')}::{case.get('name')}" for case in cases]


def shard_run(
    commands: list[str], project: Path, env: Mapping[str, str], keep: Path
) -> tuple[str, float]:
    """Run a shard's (or the unsharded) test job; its reports are moved to ``keep``."""
    started = time.monotonic()
    done = run_job(commands, project, env)
    seconds = time.monotonic() - started
    assert done[-1].returncode == 0, output(done)
    shutil.move(project / "reports", keep)
    return done[-1].stdout, seconds


def coverage_total(project: Path, env: Mapping[str, str], data: Path) -> int:
    """The total coverage of one data file, in percent."""
    report = subprocess.run(
        ["uv", "run", "coverage", "report", "--format=total", "--fail-under=0",
         f"--data-file={data}"],
        cwd=project, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert report.returncode == 0, report.stdout + report.stderr
    return int(report.stdout.strip())


def project_files(root: Path) -> dict[Path, bytes]:
    """A rendered project's files but its CI file, answers and docs/testing.md."""
    ci = {GITHUB_WORKFLOW, GITLAB_CI, "docs/testing.md", ".copier-answers.yml"}
    paths = (path for path in root.rglob("*") if path.is_file())
    return {
        path.relative_to(root): path.read_bytes()
        for path in paths
        if str(path.relative_to(root)) not in ci
    }


def test_two_shards_run_the_suite_once_and_combine_their_coverage(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    project = render(tmp_path / "project", **ANSWERS)
    gitlab = render(tmp_path / "gitlab", ci_provider="gitlab", **ANSWERS)
    unsharded = render(tmp_path / "unsharded", ci_shards=1, python_version="3.11")
    # The GitLab commands run in the GitHub project: they differ in CI files and docs only.
    assert project_files(gitlab) == project_files(project)
    env = synced(project, ANSWERS["python_version"], {})
    assert not (project / ".test_durations").exists()  # the first run: no durations yet

    # One CI run: every shard gets the run's id, which seeds the shuffle.
    run_id = os.environ.get("RANDOMLY_SEED") or str(zlib.crc32(request.node.name.encode()))
    shard_1 = github_job(project, "tests", {"matrix.shard": "1", "github.run_id": run_id})
    shard_2 = gitlab_job(gitlab, "tests")
    gitlab_env = {**env, "CI_NODE_INDEX": "2", "CI_NODE_TOTAL": "2", "CI_PIPELINE_ID": run_id}
    out, seconds = {}, {}
    out[1], seconds[1] = shard_run(shard_1, project, env, tmp_path / "shard-1")
    out[2], seconds[2] = shard_run(shard_2, project, gitlab_env, tmp_path / "shard-2")
    whole = github_job(unsharded, "tests", {})
    # It records the durations as docs/testing.md says, for the split by durations below.
    whole[-1] += " --store-durations"
    _, whole_seconds = shard_run(whole, project, env, tmp_path / "whole")

    shards = {k: junit_tests(tmp_path / f"shard-{k}" / "junit.xml") for k in (1, 2)}
    everything = junit_tests(tmp_path / "whole" / "junit.xml")
    per_backend: Counter[str] = Counter()
    for k in (1, 2):
        assert "[pytest-split] No test durations found" in out[k], out[k]
        assert f"Using --randomly-seed={run_id}" in out[k], out[k]
        outcomes, backends = junit_outcomes(tmp_path / f"shard-{k}" / "junit.xml")
        assert outcomes["passed"] == len(shards[k]) > 0, out[k]
        assert outcomes["failure"] == outcomes["error"] == outcomes["skipped"] == 0, out[k]
        per_backend += backends
    assert len(set(everything)) == len(everything) > 0
    assert not set(shards[1]) & set(shards[2]), "a test ran in both shards"
    assert sorted(shards[1] + shards[2]) == sorted(everything)
    assert abs(len(shards[1]) - len(shards[2])) <= 1  # equal parts, without durations
    for backend in ("postgres", "redis"):
        assert per_backend[backend] > 0, f"no {backend} test ran in either shard"

    # The coverage job, on another runner: the checkout elsewhere, every shard's data
    # where the job downloads it.
    runner = tmp_path / "coverage-runner"
    shutil.copytree(
        project, runner, ignore=shutil.ignore_patterns(".venv", ".pytest_cache", ".coverage*")
    )
    (runner / "reports").mkdir()
    for k in (1, 2):
        shutil.copy(tmp_path / f"shard-{k}" / f"coverage-shard-{k}.data", runner / "reports")
    coverage_job = github_job(project, "coverage", {})
    done = run_job(coverage_job, runner, env)
    assert len(done) == len(coverage_job), output(done)
    assert done[-1].returncode == 0, output(done)
    gitlab_regex = yaml.safe_load((gitlab / GITLAB_CI).read_text())["coverage"]["coverage"]
    total_line = re.compile(gitlab_regex.strip("/"), re.MULTILINE)
    match = total_line.search(done[-1].stdout)
    assert match, output(done)
    total = int(match.group(1))
    assert total >= 80, output(done)  # coverage_threshold's default
    with sqlite3.connect(runner / ".coverage") as data:
        measured = [path for (path,) in data.execute("select path from file")]
    # Named relative to the checkout (relative_files), so data from any runner combines.
    assert measured, "the combined data measured no file"
    assert all(path.startswith("src/my_project/") for path in measured), measured
    shard_totals = [
        coverage_total(runner, env, runner / "reports" / f"coverage-shard-{k}.data") for k in (1, 2)
    ]
    assert max(shard_totals) < total, "the combined data covers no more than one shard's"
    assert (runner / "reports" / "coverage.xml").exists()
    assert (runner / "reports" / "coverage-html" / "index.html").exists()

    # GitLab's coverage job combines the same data to the same total, which its regex reads.
    (runner / ".coverage").unlink()
    done = run_job(gitlab_job(gitlab, "coverage"), runner, env)
    assert done[-1].returncode == 0, output(done)
    match = total_line.search(done[-1].stdout)
    assert match, output(done)
    assert int(match.group(1)) == total, output(done)

    # The threshold is enforced on the total: raised above it, the last step fails.
    assert total < 100, "the threshold check needs a total below 100%"
    pyproject = runner / "pyproject.toml"
    assert "\nfail_under = 80\n" in pyproject.read_text()
    pyproject.write_text(pyproject.read_text().replace("fail_under = 80", "fail_under = 100"))
    done = run_job(coverage_job, runner, env)
    assert len(done) == len(coverage_job), output(done)  # only the last step fails
    assert done[-1].returncode != 0, output(done)
    assert f"total of {total} is less than fail-under=100" in done[-1].stdout, output(done)

    # A shard's data missing fails the combination, by name, before any report.
    (runner / "reports" / "coverage-shard-2.data").unlink()
    done = run_job(coverage_job, runner, env)
    assert done[-1].returncode != 0, output(done)
    assert "coverage combine" in done[-1].args[-1], output(done)
    missing = "Couldn't combine from non-existent path 'reports/coverage-shard-2.data'"
    assert missing in output(done)

    # With the recorded durations, the workflow's split (collected only) is balanced by
    # time and still runs every test once.
    durations = json.loads((project / ".test_durations").read_text())
    assert len(durations) == len(everything)
    estimated, selected = {}, {}
    for k in (1, 2):
        command = github_job(project, "tests", {"matrix.shard": str(k), "github.run_id": run_id})
        done = run_job([command[-1] + " --collect-only -q -n 0"], project, env)
        assert done[-1].returncode == 0, output(done)
        line = re.search(rf"Running group {k}/2 \(estimated duration: ([\d.]+)s\)", done[-1].stdout)
        assert line, output(done)
        estimated[k] = float(line.group(1))
        selected[k] = {row for row in done[-1].stdout.splitlines() if "::" in row}
    assert not selected[1] & selected[2], "a test is in both shards"
    assert selected[1] | selected[2] == set(durations)
    print(
        f"\nwall time: shard 1/2 {seconds[1]:.1f} s ({len(shards[1])} tests), shard 2/2 "
        f"{seconds[2]:.1f} s ({len(shards[2])} tests), unsharded {whole_seconds:.1f} s "
        f"({len(everything)} tests); by recorded durations the shards would take "
        f"{estimated[1]:.2f} s and {estimated[2]:.2f} s of {sum(durations.values()):.2f} s "
        f"of tests; coverage {shard_totals[0]}% + {shard_totals[1]}% -> {total}%; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
