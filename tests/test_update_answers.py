"""copier update that changes answers, takes the latest release, or meets a dirty tree.

Adding a backend on update brings its plumbing, dependencies, compose and CI services,
docs and examples, and its suite runs; removing one removes the template's plumbing
for it and keeps, and lists, the files the project owns. Both start from v0.1.0, whose
tests/conftest.py still listed every plugin: the migration makes the added backend's
plugin load.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from .releases import parse_changelog, release_commit
from .template_history import (
    USER_DEPENDENCY,
    TemplateHistory,
    assert_matches_fresh_render,
    conflicts,
    copier,
    dependency_conflicts,
    edit_like_a_user,
    git,
    project_files,
    resolve_as_documented,
    run_suite,
)

pytestmark = pytest.mark.slow

FROM = "v0.1.0"


def answers_of(project: Path) -> dict[str, object]:
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return {key: value for key, value in recorded.items() if not key.startswith("_")}


def update(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = copier("update", "--trust", "--defaults", *args, cwd=project)
    assert done.returncode == 0, done.stderr[-6000:]
    return done


def resolve_dependency_conflict(project: Path, yours: list[str], template: list[str]) -> None:
    """The one conflict a changed backend brings when the project added a dependency:
    both appended to [project] dependencies. Named here, explained in docs/update.md
    (Conflicts), and resolved as it says."""
    assert conflicts(project) == ["pyproject.toml"]
    pyproject = project / "pyproject.toml"
    assert dependency_conflicts(pyproject.read_text()) == [(yours, template)]
    pyproject.write_text(resolve_as_documented(pyproject.read_text(), [USER_DEPENDENCY]))
    assert not conflicts(project)


def test_adding_a_backend_brings_everything_for_it(
    request: pytest.FixtureRequest,
    template_history: TemplateHistory,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    project = template_history.render_at(FROM, tmp_path / "project", {})
    deleted = edit_like_a_user(project)
    before = {rel: path.read_text() for rel, path in project_files(project).items()}

    update(project, "--vcs-ref", "HEAD", "-d", "backends=[postgres, redis, s3]")
    resolve_dependency_conflict(project, [USER_DEPENDENCY], ['    "boto3>=1.35",\n'])

    answers = answers_of(project)
    assert answers["backends"] == ["postgres", "redis", "s3"]
    assert '"tests.plugins.s3"' in (project / "tests/plugins/__init__.py").read_text()
    assert (project / "tests/support/s3_buckets.py").exists()
    assert "moto[server]" in (project / "pyproject.toml").read_text()
    compose = yaml.safe_load((project / "compose.test.yaml").read_text())
    assert "s3" in compose["services"]
    workflow = yaml.safe_load((project / ".github/workflows/tests.yml").read_text())
    assert "s3" in workflow["jobs"]["tests"]["services"]
    assert "S3" in (project / "docs/testing.md").read_text()
    assert (project / "tests/integration/test_storage.py").exists()
    # All of it exactly as a fresh render with these answers has it.
    fresh = template_history.fresh(answers, tmp_path_factory.getbasetemp())
    assert_matches_fresh_render(project, fresh, before, deleted)

    git(project, "add", "-A")
    git(project, "commit", "-qm", "Update the template, with S3")
    run_suite(project, answers, request.node.name, tmp_path)


def test_removing_a_backend_removes_its_plumbing_and_keeps_the_projects_files(
    template_history: TemplateHistory, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project = template_history.render_at(
        FROM, tmp_path / "project", {"backends": ["postgres", "redis", "s3"]}
    )
    deleted = edit_like_a_user(project)
    storage = project / "src/my_project/storage.py"
    storage.write_text(storage.read_text() + "\n# Our retention rules live here.\n")
    git(project, "commit", "-qam", "Our storage rules")
    before = {rel: path.read_text() for rel, path in project_files(project).items()}

    done = update(project, "--vcs-ref", "HEAD", "-d", "backends=[postgres, redis]")
    resolve_dependency_conflict(project, ['    "boto3>=1.35",\n', USER_DEPENDENCY], [])

    s3_plumbing = [rel for rel in before if "s3" in Path(rel).stem.split("_")]
    assert s3_plumbing, "the project had no S3 plumbing to remove"
    for rel in s3_plumbing:
        assert not (project / rel).exists(), f"{rel} was not removed"
        assert f"  {rel}\n" in done.stderr, f"{rel} not listed as removed"
    assert "s3" not in yaml.safe_load((project / "compose.test.yaml").read_text())["services"]
    workflow = yaml.safe_load((project / ".github/workflows/tests.yml").read_text())
    assert "s3" not in workflow["jobs"]["tests"]["services"]
    assert "boto3" not in (project / "pyproject.toml").read_text()

    kept = [
        "src/my_project/storage.py",
        "tests/e2e/test_document_links.py",
        "tests/integration/test_storage.py",
    ]
    for rel in kept:
        assert (project / rel).read_text() == before[rel], f"{rel} changed"
    assert "these files are yours, so the update left them alone" in done.stderr
    assert f"  git rm {' '.join(kept)}\n" in done.stderr

    # Doing what the message says leaves exactly a fresh project with these answers.
    git(project, "rm", "-q", *kept)
    answers = answers_of(project)
    fresh = template_history.fresh(answers, tmp_path_factory.getbasetemp())
    assert_matches_fresh_render(project, fresh, before, deleted)


def test_the_next_release_is_what_copy_and_update_take_without_a_ref(
    template_history: TemplateHistory, tmp_path: Path
) -> None:
    """The release step of docs/update.md, done in a scratch clone: the CHANGELOG's
    Unreleased section becomes the next version, that commit is tagged, and Copier
    takes it with no ``--vcs-ref``: update needs no flag but ``--trust``."""
    clone = tmp_path / "template"
    git(tmp_path, "clone", "-q", str(template_history.clone), str(clone))
    changelog = clone / "CHANGELOG.md"
    newest = parse_changelog(changelog.read_text())[0]
    version = f"v{newest.version[0]}.{newest.version[1] + 1}.0"
    heading = f"## {version} (2099-01-01)"
    changelog.write_text(changelog.read_text().replace("## Unreleased\n", f"{heading}\n", 1))
    git(clone, "commit", "-qam", f"Release {version}")
    release = parse_changelog(changelog.read_text())[0]
    assert release.heading == heading
    commit = release_commit(clone, release)
    assert commit == git(clone, "rev-parse", "HEAD").strip()
    git(clone, "tag", version, commit)

    fresh = tmp_path / "fresh"
    done = copier("copy", "--trust", "--defaults", str(clone), str(fresh))
    assert done.returncode == 0, done.stderr[-4000:]
    assert f"_commit: {version}\n" in (fresh / ".copier-answers.yml").read_text()

    project = tmp_path / "project"
    done = copier("copy", "--trust", "--defaults", "--vcs-ref", FROM, str(clone), str(project))
    assert done.returncode == 0, done.stderr[-4000:]
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "generated")
    update(project)
    assert not conflicts(project)
    assert f"_commit: {version}\n" in (project / ".copier-answers.yml").read_text()


def test_a_dirty_tree_is_refused_with_what_to_do(
    template_history: TemplateHistory, tmp_path: Path
) -> None:
    project = template_history.render_at(FROM, tmp_path / "project", {})
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\nWork in progress.\n")
    (project / "notes.txt").write_text("untracked\n")
    status = git(project, "status", "--porcelain")

    done = copier("update", "--trust", "--defaults", "--vcs-ref", "HEAD", cwd=project)

    assert done.returncode != 0
    assert "Destination repository is dirty" in done.stderr
    assert "commit or stash your local changes" in done.stderr
    assert git(project, "status", "--porcelain") == status
    assert f"_commit: {FROM}\n" in (project / ".copier-answers.yml").read_text()
