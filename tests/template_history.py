"""The template's own history, for update tests: a scratch clone with release tags,
Copier run as a user runs it, and the edits a user makes to a generated project.

The clone's HEAD is the working tree (uncommitted changes included, as ``render``
renders it), so an update "to HEAD" brings what is being tested. Release tags are made
in the clone from CHANGELOG.md (tests/releases.py): tags do not travel with every clone.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pathspec
import pytest
import yaml

from .conftest import REPO, render, under_ci
from .releases import MissingHistory, has_commit, parse_changelog, release_commit, shallow_message
from .test_generated_suites import expected_provider, junit_outcomes, synced

CONFLICT_MARKER = re.compile(rb"^(<{7}|>{7}) (before updating|after updating)", re.MULTILINE)


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, f"git {' '.join(args)} in {cwd}: {done.stderr}"
    return done.stdout


def copier(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The Copier CLI in a process of its own, as a user runs it: an older template's
    extension (with the sys.modules-cached catalog) must not leak into the next render."""
    return subprocess.run(
        [sys.executable, "-m", "copier", *args],
        cwd=cwd, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def data_args(answers: dict[str, Any]) -> list[str]:
    """``-d key=value`` for each answer: strings as they are, others as YAML (JSON)."""
    return [
        arg
        for key, value in answers.items()
        for arg in ("-d", f"{key}={value if isinstance(value, str) else json.dumps(value)}")
    ]


def missing_history(message: str) -> None:
    if under_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@dataclass
class TemplateHistory:
    """A clone of the template: HEAD is the working tree, release tags made from CHANGELOG."""

    clone: Path
    tags: dict[str, str]
    _fresh: dict[str, Path] = field(default_factory=dict)

    def require(self, ref: str) -> None:
        if not has_commit(self.clone, ref):
            missing_history(shallow_message(REPO, f"the update test starts from {ref}"))

    def render_at(self, ref: str, dest: Path, answers: dict[str, Any]) -> Path:
        """A project generated from the template as it was at ``ref``, committed."""
        self.require(ref)
        done = copier(
            "copy", "--trust", "--defaults", "--quiet", "--vcs-ref", ref, *data_args(answers),
            str(self.clone), str(dest),
        )  # fmt: skip
        assert done.returncode == 0, f"copier copy at {ref} failed:\n{done.stderr[-4000:]}"
        git(dest, "init", "-q", "-b", "main")
        git(dest, "add", "-A")
        git(dest, "commit", "-qm", f"Generated from the template at {ref}")
        return dest

    def fresh(self, answers: dict[str, Any], tmp_root: Path) -> Path:
        """A fresh render of HEAD with these answers (one per answer set per session)."""
        key = json.dumps(answers, sort_keys=True)
        if key not in self._fresh:
            dest = tmp_root / f"fresh-{len(self._fresh)}"
            self._fresh[key] = render(dest, src=self.clone, vcs_ref="HEAD", **answers)
        return self._fresh[key]


@pytest.fixture(scope="session")
def template_history(tmp_path_factory: pytest.TempPathFactory) -> TemplateHistory:
    """The template's history in a scratch clone, HEAD = the working tree, tagged."""
    clone = tmp_path_factory.mktemp("template-history") / "template"
    git(REPO, "clone", "-q", "--no-local", str(REPO), str(clone))
    for tag in git(clone, "tag", "--list").split():
        git(clone, "tag", "-d", tag)
    git(clone, "--work-tree", str(REPO), "add", "-A")
    if git(clone, "status", "--porcelain", "--untracked-files=no"):
        git(clone, "commit", "-qm", "The working tree under test", "--no-verify")
    git(clone, "reset", "-q", "--hard")
    tags = {}
    try:
        for release in parse_changelog((clone / "CHANGELOG.md").read_text()):
            commit = release_commit(clone, release)
            assert commit is not None, f"{release.heading}: no commit has it"
            git(clone, "tag", release.tag, commit)
            tags[release.tag] = commit
    except MissingHistory as missing:
        missing_history(shallow_message(REPO, str(missing)))
    return TemplateHistory(clone, tags)


def user_owned() -> Callable[[str], bool]:
    """Whether a project path is the project's (``_skip_if_exists`` of the working tree)."""
    patterns = yaml.safe_load((REPO / "copier.yml").read_text())["_skip_if_exists"]
    return pathspec.PathSpec.from_lines("gitignore", patterns).match_file


def project_files(root: Path) -> dict[str, Path]:
    return {
        str(p.relative_to(root)): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def conflicts(root: Path) -> list[str]:
    """Files with Copier's conflict markers, and .rej files."""
    found = []
    for rel, path in project_files(root).items():
        if rel.endswith(".rej") or CONFLICT_MARKER.search(path.read_bytes()):
            found.append(rel)
    return found


# --- What the user does to the generated project -------------------------------------

USER_TEST = "tests/unit/test_project_own.py"
USER_PLUGIN = "tests/project_fixtures.py"
USER_DEPENDENCY = '    "attrs>=23.1",\n'
USER_PLUGIN_ENTRY = '    "tests.project_fixtures",\n'
PLUMBING = "tests/support/safety.py"
EXAMPLE_TEST = "tests/unit/test_emails.py"
NEW_FILES = {
    USER_PLUGIN: '''"""Fixtures the project added, loaded from tests/conftest.py."""

import pytest


@pytest.fixture
def release_name() -> str:
    """The name of the project's next release."""
    return "spring"
''',
    USER_TEST: '''"""The project's own test: its fixtures and its own dependency."""

import attrs


@attrs.frozen
class Point:
    x: int
    y: int


def test_project_fixtures_and_dependency(greeting: str, release_name: str) -> None:
    assert f"{greeting}, {release_name}" == "hello, spring"
    assert attrs.evolve(Point(1, 2), y=3) == Point(1, 3)
''',
}


def add_dependency(pyproject: str) -> str:
    """``uv add attrs``: appended to the [project] dependencies."""
    if "\ndependencies = []\n" in pyproject:
        empty, listed = "\ndependencies = []\n", f"\ndependencies = [\n{USER_DEPENDENCY}]\n"
        return pyproject.replace(empty, listed)
    start = pyproject.index("\ndependencies = [\n")
    end = pyproject.index("\n]\n", start)
    return pyproject[: end + 1] + USER_DEPENDENCY + pyproject[end + 1 :]


def add_to_conftest(conftest: str) -> str:
    """A fixture of the project's own, and a plugin module of its own in the list."""
    conftest = conftest.replace("pytest_plugins = [", "import pytest\n\npytest_plugins = [", 1)
    start = conftest.index("pytest_plugins = [")
    end = conftest.index("\n]\n", start)
    conftest = conftest[: end + 1] + USER_PLUGIN_ENTRY + conftest[end + 1 :]
    return conftest + (
        "\n\n@pytest.fixture\n"
        "def greeting() -> str:\n"
        '    """How the project greets."""\n'
        '    return "hello"\n'
    )


def add_to_plumbing(source: str) -> str:
    return source + "\n# Project: staging hosts are allowed with TEST_SERVICES_ALLOW_REMOTE=1.\n"


def add_example_case(test: str) -> str:
    anchor = '        ("a+tag@sub.example.org", "a+tag@sub.example.org"),\n'
    return test.replace(anchor, anchor + '        ("Linus@Kernel.ORG", "linus@kernel.org"),\n', 1)


EDITS = {
    "pyproject.toml": add_dependency,
    "tests/conftest.py": add_to_conftest,
    PLUMBING: add_to_plumbing,
    EXAMPLE_TEST: add_example_case,
}


# Examples a project may not want; it deletes the first one it has.
UNWANTED_EXAMPLES = ["tests/e2e/test_rate_limit.py", "tests/e2e/test_registration.py"]


def edit_like_a_user(project: Path) -> str | None:
    """Every edit above, committed; returns the example the project deleted, if any."""
    unwanted = next((rel for rel in UNWANTED_EXAMPLES if (project / rel).exists()), None)
    if unwanted:
        git(project, "rm", "-q", unwanted)
    for rel, edit in EDITS.items():
        path = project / rel
        edited = edit(path.read_text())
        assert edited != path.read_text(), f"the edit of {rel} found nothing to edit"
        path.write_text(edited)
    for rel, text in NEW_FILES.items():
        (project / rel).write_text(text)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "The project's own changes")
    return unwanted


# --- Checks ---------------------------------------------------------------------------

CONFLICT = re.compile(
    r"^<{7} before updating\n(?P<yours>.*?)^={7}\n(?P<template>.*?)^>{7} after updating\n",
    re.MULTILINE | re.DOTALL,
)


def dependency_conflicts(pyproject: str) -> list[tuple[list[str], list[str]]]:
    """The (yours, template's) sides of each conflict Copier left in pyproject.toml."""
    return [
        (m["yours"].splitlines(keepends=True), m["template"].splitlines(keepends=True))
        for m in CONFLICT.finditer(pyproject)
    ]


def resolve_as_documented(pyproject: str, own: list[str]) -> str:
    """docs/update.md: keep the template's side, plus the lines you added yourself."""
    return CONFLICT.sub(lambda m: m["template"] + "".join(
        line for line in m["yours"].splitlines(keepends=True) if line in own
    ), pyproject)  # fmt: skip


def assert_matches_fresh_render(
    project: Path, fresh: Path, before: dict[str, str], deleted: str | None
) -> None:
    """Template-owned files equal a fresh render (plus the user's line where the user
    edited one); the project's own files are as committed before the update (the old
    conftest.py migrated), and the example it deleted stays deleted; nothing the
    template no longer generates is left but the project's own files."""
    mine = user_owned()
    updated, expected_files = project_files(project), project_files(fresh)
    problems = [f"{deleted}: brought back"] if deleted in updated else []
    for rel, path in expected_files.items():
        if rel == deleted:
            continue
        if rel not in updated:
            problems.append(f"{rel}: missing")
            continue
        text = updated[rel].read_text()
        if rel == "tests/conftest.py" and '"tests.plugins.' in before[rel]:
            expected = add_to_conftest(path.read_text())  # migrated to the current form
        elif mine(rel) and rel in before:
            expected = before[rel]
        elif rel in EDITS:
            expected = EDITS[rel](path.read_text())
        else:
            expected = path.read_text()
        if text != expected:
            problems.append(f"{rel}: differs from the fresh render")
    for rel in updated.keys() - expected_files.keys():
        if not (mine(rel) and rel in before) and rel not in NEW_FILES:
            problems.append(f"{rel}: left over, not in a fresh render")
    assert not problems, "\n".join(problems)


def run_suite(project: Path, answers: dict[str, Any], seed_from: str, tmp_path: Path) -> None:
    """``uv sync`` and ``pytest -n 2 --cov`` as the generated CI runs them, under CI=true."""
    env = synced(project, answers.get("python_version", "3.12"), {})
    report = tmp_path / "junit.xml"
    seed = str(zlib.crc32(seed_from.encode()))
    run = subprocess.run(
        ["uv", "run", "pytest", "-n", "2", "-p", "no:cacheprovider", "--cov",
         "-p", "randomly", f"--randomly-seed={seed}", f"--junitxml={report}"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    output = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, output
    outcomes, per_backend = junit_outcomes(report)
    assert outcomes["passed"] > 0, output
    assert outcomes["failure"] == outcomes["error"] == outcomes["skipped"] == 0, output
    for backend in answers.get("backends", ["postgres", "redis"]):
        assert per_backend[backend] > 0, f"no {backend} test ran:\n{output}"
        assert f"{backend}: {expected_provider(backend, {})}" in run.stdout, output
    report_text = report.read_text()
    assert 'name="test_project_fixtures_and_dependency"' in report_text, output
    assert re.search(r'name="test_normalizes_case_and_whitespace\[Linus@', report_text), output
    # Running the suite leaves nothing that would make the next update refuse a dirty tree.
    assert git(project, "status", "--porcelain") == "?? uv.lock\n"
