"""Warm runs, for real: ``pytest --services-up`` in a generated project, suites run
against the warm servers, the template kept by the hash of its migrations, two
concurrent runs, a holder killed with ``kill -9``, and ``--services-down``.

Everything the project's runs make lives in a directory of this test's own
(``TEST_SERVICES_DIR``): the warm state file, the holder's run and every run's. What is
checked to be gone is what that state file recorded (the holder and its servers, by pid
and start time) and that directory: never other processes of the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import render
from .test_generated_suites import junit_outcomes, servers_env, synced

pytestmark = pytest.mark.slow

BACKENDS = ["postgres", "redis"]
# The rendered project, the environment its suite runs in, and the run base directory.
Project = tuple[Path, dict[str, str], Path]
# Appended to the migration: every build of the template leaves a line in a file.
SIDE_EFFECT = """
    with open(__file__ + ".log", "a") as log:
        log.write("migrated\\n")
"""


@contextlib.contextmanager
def _services_dir() -> Iterator[Path]:
    """A run base directory of this test's own; whatever a failed assertion left running
    in it (the holder this test started, and its servers) is stopped afterwards."""
    # In memory like the default base, and ours alone; the unprivileged server user
    # (when we are root) must be able to pass through it.
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    base = Path(tempfile.mkdtemp(prefix="warm-", dir=shm))
    base.chmod(0o711)
    try:
        yield base
    finally:
        state = _state(base)
        if state is not None and _alive(state["holder"]):
            os.kill(state["holder"]["pid"], signal.SIGTERM)
            _wait_gone([state["holder"], *(s["process"] for s in state["servers"].values())])
        subprocess.run(["rm", "-rf", str(base)], check=False)


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, dict[str, str], Path]]:
    project = render(
        tmp_path_factory.mktemp("warm") / "project",
        backends=BACKENDS,
        python_version="3.11",
        test_layers=["unit", "integration"],
    )
    migrations = project / "tests" / "migrations.py"
    migrations.write_text(migrations.read_text() + SIDE_EFFECT)
    env = synced(project, "3.11", {})
    with _services_dir() as base:
        env["TEST_SERVICES_DIR"] = str(base)
        yield project, env, base


def _pytest(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["uv", "run", "pytest", "-p", "no:cacheprovider", *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _suite(project: Path, name: str) -> list[str]:
    """The small postgres+redis suite, its JUnit report named ``name``."""
    return ["uv", "run", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
            "tests/integration", f"--junitxml={project.parent / name}.xml"]  # fmt: skip


def _passed(
    project: Path, name: str, run: subprocess.CompletedProcess[str], backends: list[str] = BACKENDS
) -> str:
    output = run.stdout[-5000:] + run.stderr[-2000:]
    assert run.returncode == 0, output
    outcomes, per_backend = junit_outcomes(project.parent / f"{name}.xml")
    assert outcomes["failure"] == outcomes["error"] == outcomes["skipped"] == 0, output
    assert outcomes["passed"] > 0, output
    for backend in backends:
        assert per_backend[backend] > 0, f"no {backend} test ran:\n{output}"
    return run.stdout + run.stderr


def _run_suite(
    project: Path, env: dict[str, str], name: str, backends: list[str] = BACKENDS
) -> str:
    run = subprocess.run(
        _suite(project, name), cwd=project, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    return _passed(project, name, run, backends)


def _migrations(project: Path) -> int:
    log = project / "tests" / "migrations.py.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def _state(base: Path) -> dict[str, Any] | None:
    files = list(base.glob("pytest-warm-*.json"))
    return json.loads(files[0].read_text()) if files else None


def _alive(process: dict[str, Any]) -> bool:
    """The recorded process still runs: same pid *and* start time, not a zombie."""
    try:
        stat = Path(f"/proc/{process['pid']}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return False
    return stat[0] != "Z" and int(stat[19]) == process["started"]


def _wait_gone(processes: list[dict[str, Any]], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while any(map(_alive, processes)) and time.monotonic() < deadline:
        time.sleep(0.05)


def _on_server(project: Path, env: dict[str, str], state: dict[str, Any]) -> dict[str, Any]:
    """What the warm servers hold of this suite: Postgres databases, Redis claims."""
    script = """
import json, sys, psycopg, redis
state = json.loads(sys.argv[1])
with psycopg.connect(state["servers"]["postgres"]["url"]) as pg:
    names = [n for (n,) in pg.execute("SELECT datname FROM pg_database WHERE datname LIKE 'pgt%'")]
client = redis.Redis.from_url(state["servers"]["redis"]["url"])
registry = int(client.config_get("databases")["databases"]) - 1
claims = redis.Redis.from_url(state["servers"]["redis"]["url"], db=registry).keys("pgt:claim:*")
print(json.dumps({"databases": sorted(names), "claims": len(claims)}))
"""
    done = subprocess.run(
        ["uv", "run", "python", "-c", script, json.dumps(state)],
        cwd=project, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_warm_servers_serve_runs_keep_the_template_and_go_away(
    project: Project,
) -> None:
    project_dir, env, base = project

    up = _pytest(project_dir, env, "--services-up")
    assert up.returncode == 0, up.stdout + up.stderr
    state = _state(base)
    assert state is not None, up.stdout
    assert set(state["servers"]) == set(BACKENDS), state
    warm_run = state["run"]["id"]

    # First run on the warm servers: builds the template there (one migration).
    first = _run_suite(project_dir, env, "first")
    for backend in BACKENDS:
        assert f"{backend}: warm (services up " in first, first
    assert "postgres template: built" in first, first
    assert _migrations(project_dir) == 1

    # Second run: the template is cloned as it is, nothing migrates.
    second = _run_suite(project_dir, env, "second")
    assert "postgres template: reused" in second, second
    assert _migrations(project_dir) == 1

    # A changed migration changes the key: the next run migrates once more.
    migrations = project_dir / "tests" / "migrations.py"
    migrations.write_text(migrations.read_text() + "# schema v2\n")
    third = _run_suite(project_dir, env, "third")
    assert "postgres template: built" in third, third
    assert _migrations(project_dir) == 2

    # Two runs at once on a key neither has seen: one builds, the other waits and
    # clones what it built; both pass.
    migrations.write_text(migrations.read_text() + "# schema v3\n")
    concurrent = [
        subprocess.Popen(
            _suite(project_dir, name),
            cwd=project_dir,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in ("left", "right")
    ]
    outputs = []
    for name, process in zip(("left", "right"), concurrent, strict=True):
        stdout, stderr = process.communicate(timeout=300)
        done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        outputs.append(_passed(project_dir, name, done))
    verbs = sorted("built" if "postgres template: built" in out else "reused" for out in outputs)
    assert verbs == ["built", "reused"], outputs
    assert _migrations(project_dir) == 3

    # Every finished run removed what it made; the three templates stay, the holder's.
    held = _on_server(project_dir, env, state)
    assert held["claims"] == 0, held
    assert len(held["databases"]) == 3, held
    assert all(name.startswith(f"pgt_{warm_run}_tpl_") for name in held["databases"]), held
    assert sorted(p.name for p in base.iterdir() if p.is_dir()) == [f"pytest-services-{warm_run}"]

    # kill -9 of the holder: its reaper stops the servers and removes their data; the
    # state file left behind is reported and ignored, a run starts its own servers.
    servers = [server["process"] for server in state["servers"].values()]
    assert _alive(state["holder"])
    assert all(map(_alive, servers))
    os.kill(state["holder"]["pid"], signal.SIGKILL)
    _wait_gone([state["holder"], *servers])
    assert not any(map(_alive, [state["holder"], *servers]))
    deadline = time.monotonic() + 30
    while (base / f"pytest-services-{warm_run}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (base / f"pytest-services-{warm_run}").exists()
    status = _pytest(project_dir, env, "--services-status")
    assert status.returncode == 1, status.stdout
    assert "stale" in status.stdout, status.stdout
    cold = _run_suite(project_dir, env, "cold")
    assert "postgres: local (" in cold, cold
    assert "redis: local (" in cold, cold
    assert "is dead, so its servers are gone" in cold, cold

    # `up` again recovers: the stale file is replaced, new servers, a fresh template.
    again = _pytest(project_dir, env, "--services-up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "removing the stale state file" in again.stdout, again.stdout
    state = _state(base)
    assert state is not None
    assert state["run"]["id"] != warm_run
    recovered = _run_suite(project_dir, env, "recovered")
    assert "postgres: warm (services up " in recovered, recovered
    assert "postgres template: built" in recovered, recovered

    # `down` stops the holder and its servers and leaves nothing in the base directory.
    down = _pytest(project_dir, env, "--services-down")
    assert down.returncode == 0, down.stdout + down.stderr
    processes = [state["holder"], *(server["process"] for server in state["servers"].values())]
    assert not any(map(_alive, processes))
    assert list(base.iterdir()) == []

    # Holder and reaper killed together leave servers running: the next `down` (or `up`,
    # or any run) removes them, as it removes any run whose owner and reaper are gone.
    up = _pytest(project_dir, env, "--services-up")
    assert up.returncode == 0, up.stdout + up.stderr
    state = _state(base)
    assert state is not None
    reaper = json.loads((Path(state["run"]["dir"]) / "reaper.json").read_text())
    servers = [server["process"] for server in state["servers"].values()]
    for process in (reaper, state["holder"]):  # the reaper first, or it would reap
        assert _alive(process)
        os.kill(process["pid"], signal.SIGKILL)
    _wait_gone([state["holder"], reaper])
    assert all(map(_alive, servers))  # orphaned, until someone collects them
    down = _pytest(project_dir, env, "--services-down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "stale" in down.stdout, down.stdout
    _wait_gone(servers, timeout=10)
    assert not any(map(_alive, servers))
    assert list(base.iterdir()) == []


# Run in the generated project: the key of an Alembic schema and a seed, before and
# after changes to the files it must cover, and to one it must not.
FINGERPRINTS = """
import json, sys
from pathlib import Path
from tests.support.postgres_schema import Schema

root = Path(sys.argv[1])
def key(seed=""):
    return Schema.from_settings("alembic", seed, root).fingerprint([str(root), *sys.path])
def edit(name):
    path = root / name
    path.write_text(path.read_text() + "# changed\\n")
    return key("seeds:load")
keys = {"plain": key(), "again": key(), "seeded": key("seeds:load")}
for name in ("app/unrelated.py", "migrations/versions/001_users.py", "app/base.py",
             "seeds.py", "alembic.ini"):
    keys[name] = edit(name)
print(json.dumps(keys))
"""
LAYOUT = {
    "alembic.ini": "[alembic]\nscript_location = %(here)s/migrations\n",
    "migrations/env.py": "from alembic import context\n",
    "migrations/versions/001_users.py": "from app.models import Base\nrevision = '001'\n",
    "app/__init__.py": "",
    "app/models.py": "from .base import Base\n",
    "app/base.py": "Base = object\n",
    "app/unrelated.py": "VALUE = 1\n",
    "seeds.py": "import app.models\n\ndef load(url: str) -> None: ...\n",
}


def test_template_key_covers_migrations_seeds_and_the_modules_they_import(
    project: Project, tmp_path: Path
) -> None:
    project_dir, env, _ = project
    for name, text in LAYOUT.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    done = subprocess.run(
        ["uv", "run", "python", "-c", FINGERPRINTS, str(tmp_path)],
        cwd=project_dir, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    keys = json.loads(done.stdout)
    assert keys["plain"] == keys["again"], keys
    assert keys["seeded"] != keys["plain"], keys
    # A module nothing imports is not part of the key; each of the others is.
    assert keys["app/unrelated.py"] == keys["seeded"], keys
    changed = ["seeded", "migrations/versions/001_users.py", "app/base.py", "seeds.py"]
    changed.append("alembic.ini")
    assert len({keys[name] for name in changed}) == len(changed), keys


# Every other backend a warm holder keeps: MongoDB (FerretDB, local), Kafka, S3 (moto),
# RabbitMQ and MLflow, each through the local provider.
OTHERS = ["mongo", "kafka", "s3", "rabbitmq", "mlflow"]
# Run in the generated project: what the warm servers hold that a run named (pgt_...),
# apart from what the holder's own run made (MLflow's artifact bucket).
HELD_BY_RUNS = """
import json, sys, urllib.request, base64
import boto3, pymongo
from confluent_kafka.admin import AdminClient
from mlflow import MlflowClient
state = json.loads(sys.argv[1])
servers, holder = state["servers"], state["run"]["id"]
def named(names):
    return [n for n in names if n.startswith("pgt") and not n[4:].startswith(holder)]
mongo = pymongo.MongoClient(servers["mongo"]["url"])
s3 = boto3.client("s3", endpoint_url=servers["s3"]["url"], region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
kafka = AdminClient({"bootstrap.servers": servers["kafka"]["url"].split("://")[-1]})
api = servers["rabbitmq"]["extra"]["management_url"]
request = urllib.request.Request(api + "/api/vhosts")
request.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
mlflow = MlflowClient(servers["mlflow"]["url"])
held = {
    "mongo": named(mongo.list_database_names()),
    "s3": named(b["Name"] for b in s3.list_buckets()["Buckets"]),
    "kafka": named(kafka.list_topics(timeout=30).topics),
    "rabbitmq": named(v["name"] for v in json.load(urllib.request.urlopen(request))),
    "mlflow": named(e.name for e in mlflow.search_experiments()),
}
mongo.close()
print(json.dumps(held))
"""


@pytest.mark.parametrize(
    "answers",
    [{"backends": OTHERS, "mongo_provider": "local", "python_version": "3.11"}],
    ids=["mongo-kafka-s3-rabbitmq-mlflow"],
)
def test_every_other_backend_serves_warm_runs(
    request: pytest.FixtureRequest, tmp_path: Path, answers: dict[str, Any]
) -> None:
    """Two runs on warm MongoDB, Kafka, S3, RabbitMQ and MLflow servers: each says so in
    its header, runs every backend's tests, and leaves the servers holding nothing it
    named (asked of the servers); ``--services-down`` then leaves nothing behind."""
    project = render(
        tmp_path / "project",
        backends=OTHERS,
        python_version="3.11",
        test_layers=["unit", "integration"],
    )
    env = synced(project, "3.11", servers_env(request, OTHERS, project))
    with _services_dir() as base:
        env["TEST_SERVICES_DIR"] = str(base)
        up = _pytest(project, env, "--services-up")
        assert up.returncode == 0, up.stdout + up.stderr
        state = _state(base)
        assert state is not None, up.stdout
        assert set(state["servers"]) == set(OTHERS), state
        for name in ("first", "second"):
            output = _run_suite(project, env, name, OTHERS)
            for backend in OTHERS:
                assert f"{backend}: warm (services up " in output, output
        held = subprocess.run(
            ["uv", "run", "python", "-c", HELD_BY_RUNS, json.dumps(state)],
            cwd=project, env=env, capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        assert json.loads(held.stdout) == {backend: [] for backend in OTHERS}, held.stdout
        down = _pytest(project, env, "--services-down")
        assert down.returncode == 0, down.stdout + down.stderr
        processes = [state["holder"], *(server["process"] for server in state["servers"].values())]
        assert not any(map(_alive, processes))
        assert list(base.iterdir()) == []
