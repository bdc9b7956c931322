"""copier update over the template's real history, with a user's edits in the way.

Each cell renders a project from the template as it was at an older commit of main or
a release tag, with one answer set, commits it, edits it as a user does, and updates it
to HEAD (the working tree) with ``copier update --trust --defaults`` in a process of
its own. Every cell checks: exit 0, no conflict markers or .rej files, every user edit
kept, the project's own files untouched, and each template-owned file equal to a fresh
render of HEAD (with the user's line, where the user edited one). ``:suite`` cells
then install the updated project and run its suite with ``pytest -n 2`` under CI=true:
nothing failed or skipped, every chosen backend exercised, and the user's own test run.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import REPO
from .releases import parse_changelog
from .template_history import (
    NEW_FILES,
    TemplateHistory,
    assert_matches_fresh_render,
    conflicts,
    copier,
    edit_like_a_user,
    git,
    project_files,
    run_suite,
)

pytestmark = pytest.mark.slow

# Older commits of main a project may have been generated from, oldest first: the
# oldest that still renders, and the points where the template changed most.
OLD_COMMITS = {
    "3e5d905": "skeleton",
    "132d417": "five-backends",
    "ddc07f0": "web-layer",
}
# Every release in CHANGELOG.md, oldest first.
RELEASES = [r.tag for r in reversed(parse_changelog((REPO / "CHANGELOG.md").read_text()))]
FROM_REFS = [*OLD_COMMITS, *RELEASES]

# Answer sets whose suites are quick here (no Kafka or MongoDB: those need the servers
# .ci/provision builds, and the generated-suite tests cover them), and the first
# from-ref that offers everything they choose.
ANSWER_SETS: dict[str, tuple[dict[str, Any], str]] = {
    "pg-redis": ({}, "3e5d905"),
    "redis-gitlab-all-layers": (
        {
            "backends": ["redis"],
            "ci_provider": "gitlab",
            "python_version": "3.11",
            "test_layers": ["unit", "integration", "e2e", "performance", "security"],
        },
        "3e5d905",
    ),
    "s3-pg-async": (
        {"backends": ["postgres", "s3"], "async_fixtures": True, "python_version": "3.11"},
        "132d417",
    ),
    "no-backend": (
        {"backends": [], "ci_provider": "none", "python_version": "3.11", "test_layers": ["unit"]},
        "3e5d905",
    ),
}
# The cells whose updated suite is installed and run: at least one per from-ref.
SUITE_CELLS = {
    ("3e5d905", "pg-redis"),
    ("132d417", "s3-pg-async"),
    ("ddc07f0", "redis-gitlab-all-layers"),
    *((release, "pg-redis") for release in RELEASES),
}


def cells() -> list[Any]:
    params = []
    for ref in FROM_REFS:
        label = f"{ref}-{OLD_COMMITS[ref]}" if ref in OLD_COMMITS else ref
        for name, (answers, since) in ANSWER_SETS.items():
            if FROM_REFS.index(ref) < FROM_REFS.index(since):
                continue
            suite = (ref, name) in SUITE_CELLS
            cell_id = f"{label}:{name}" + (":suite" if suite else "")
            params.append(pytest.param(ref, answers, suite, id=cell_id))
    return params


@pytest.mark.parametrize(("ref", "answers", "suite"), cells())
def test_update_from_history_keeps_user_edits(
    request: pytest.FixtureRequest,
    template_history: TemplateHistory,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    ref: str,
    answers: dict[str, Any],
    suite: bool,
) -> None:
    project = template_history.render_at(ref, tmp_path / "project", answers)
    deleted = edit_like_a_user(project)
    before = {rel: path.read_text() for rel, path in project_files(project).items()}

    # Wall time depends on the machine's load; CPU time (Copier and its git) less so.
    started, cpu = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = copier("update", "--trust", "--defaults", "--vcs-ref", "HEAD", cwd=project)
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    request.node.user_properties += [
        ("update_seconds", round(time.monotonic() - started, 2)),
        (
            "update_cpu_seconds",
            round(used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime, 2),
        ),
    ]
    assert done.returncode == 0, done.stderr[-6000:]

    assert not conflicts(project), conflicts(project)
    if deleted:
        assert f"did not bring them back:\n  {deleted}\n" in done.stderr, done.stderr
    head = git(template_history.clone, "describe", "--tags", "--always").strip()
    assert f"_commit: {head}\n" in (project / ".copier-answers.yml").read_text()
    for rel, text in NEW_FILES.items():
        assert (project / rel).read_text() == text, rel
    fresh = template_history.fresh(answers, tmp_path_factory.getbasetemp())
    assert_matches_fresh_render(project, fresh, before, deleted)

    if suite:
        git(project, "add", "-A")
        git(project, "commit", "-qm", "Update the template")
        run_suite(project, answers, request.node.name, tmp_path)
