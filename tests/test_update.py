"""copier update: template-owned plumbing follows the template, the user's files stay theirs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from copier import run_update

from .conftest import REPO, render

pytestmark = pytest.mark.slow


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


@pytest.fixture
def template_clone(tmp_path: Path) -> Path:
    """A copy of the working tree, committed and tagged v1.0.0 (uncommitted work included)."""
    clone = tmp_path / "template"
    shutil.copytree(
        REPO, clone, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "*_cache")
    )
    git(clone, "init", "-q", "-b", "main")
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "v1")
    git(clone, "tag", "v1.0.0")
    return clone


def test_update_keeps_user_edits_and_brings_template_changes(
    tmp_path: Path, template_clone: Path
) -> None:
    project = render(tmp_path / "project", src=template_clone, vcs_ref="v1.0.0")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "generated")

    # The user edits files they own, adds a test, and changes an answer-independent file.
    user_test = project / "tests" / "unit" / "test_emails.py"
    user_test.write_text(
        user_test.read_text() + "\n\ndef test_added_by_user() -> None:\n    assert True\n"
    )
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\nOur own notes.\n")
    (project / "tests" / "unit" / "test_mine.py").write_text("def test_mine() -> None:\n    pass\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "user edits")

    # The template improves a file it owns, and (clumsily) rewrites a user-owned one.
    safety = template_clone / "template" / "tests" / "support" / "safety.py"
    safety.write_text(safety.read_text().replace(
        '"""Guards that run before', '"""Guards (improved in v2) that run before'
    ))  # fmt: skip
    owned_by_user = template_clone / "template" / "README.md.jinja"
    owned_by_user.write_text("# replaced by the template\n")
    git(template_clone, "commit", "-qam", "v2")
    git(template_clone, "tag", "v2.0.0")

    run_update(project, defaults=True, overwrite=True, unsafe=True, quiet=True, vcs_ref="v2.0.0")

    assert "improved in v2" in (project / "tests" / "support" / "safety.py").read_text()
    assert "def test_added_by_user" in user_test.read_text()
    assert "Our own notes." in readme.read_text()
    assert "replaced by the template" not in readme.read_text()
    assert (project / "tests" / "unit" / "test_mine.py").exists()
    assert "_commit: v2.0.0" in (project / ".copier-answers.yml").read_text()
    assert not list(project.rglob("*.rej"))

    # Template-owned files equal a fresh copy of v2 rendered elsewhere.
    fresh = render(tmp_path / "fresh", src=template_clone, vcs_ref="v2.0.0")
    for owned in ("tests/support/safety.py", "tests/plugins/services.py", "compose.test.yaml"):
        assert (project / owned).read_text() == (fresh / owned).read_text(), owned
