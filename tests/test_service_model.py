"""The generated service plumbing under stress: URLs, safety guard, missing servers, kill -9.

One project is rendered and installed for the module; each test runs its suite (or its
support code) in a subprocess, as a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import render
from .test_generated_suites import find_python

pytestmark = pytest.mark.slow

OUTSIDE_SERVERS = Path(__file__).with_name("outside_servers.py")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = render(tmp_path_factory.mktemp("model") / "project", python_version="3.11")
    sync = subprocess.run(["uv", "sync", "-q"], cwd=root, env=clean_env(), capture_output=True)
    assert sync.returncode == 0, sync.stderr
    return root


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PYTEST_"))}
    env.update(UV_PYTHON=find_python("3.11"), UV_PYTHON_DOWNLOADS="never", VIRTUAL_ENV="")
    env.pop("CI", None)
    env.update(extra)
    return env


def pytest_in(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["uv", "run", "pytest", "-p", "no:cacheprovider", *args],
        cwd=project, env=clean_env(**env), capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def python_in(project: Path, code: str) -> str:
    done = subprocess.run(
        ["uv", "run", "python", "-c", code],
        cwd=project, env=clean_env(PYTHONPATH="."), capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


@pytest.fixture
def outside_servers(project: Path) -> Iterator[dict[str, str]]:
    """Servers the suite did not start, as a developer's or CI's would be."""
    holder = subprocess.Popen(
        ["uv", "run", "python", str(OUTSIDE_SERVERS), "postgres", "redis"],
        cwd=project, env=clean_env(PYTHONPATH="."),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None
    assert holder.stdin is not None
    yield json.loads(holder.stdout.readline())["urls"]
    holder.stdin.close()  # its run's reaper removes the servers
    holder.wait(60)


def test_url_provider_uses_servers_and_spares_what_it_did_not_create(
    project: Path, outside_servers: dict[str, str]
) -> None:
    pg, rd = outside_servers["postgres"], outside_servers["redis"]
    python_in(project, f"""
import psycopg, redis
with psycopg.connect("{pg}", autocommit=True) as c:
    c.execute("CREATE DATABASE app_data")
redis.Redis.from_url("{rd}/1").set("someone-elses", "keep me")
""")  # fmt: skip

    run = pytest_in(project, "-n", "2", TEST_POSTGRES_URL=pg, TEST_REDIS_URL=rd)
    assert run.returncode == 0, run.stdout[-4000:]
    assert "postgres: url (TEST_POSTGRES_URL)" in run.stdout
    assert "redis: url (TEST_REDIS_URL)" in run.stdout

    left = python_in(project, f"""
import psycopg, redis
with psycopg.connect("{pg}") as c:
    print(sorted(r[0] for r in c.execute("SELECT datname FROM pg_database")))
print(redis.Redis.from_url("{rd}/1").get("someone-elses"))
""")  # fmt: skip
    assert "'app_data'" in left
    assert "pgt_" not in left  # every database the run made was dropped
    assert "b'keep me'" in left  # db 1 held foreign keys, so it was never claimed


def test_safety_guard_refuses_the_applications_own_database(
    project: Path, outside_servers: dict[str, str]
) -> None:
    pg = outside_servers["postgres"]
    run = pytest_in(project, "tests/integration", TEST_POSTGRES_URL=pg, DATABASE_URL=pg)
    assert run.returncode == 1
    assert "TEST_POSTGRES_URL points at the same database as DATABASE_URL" in run.stdout


def test_safety_guard_refuses_remote_hosts_unless_allowed(project: Path) -> None:
    url = "postgresql://postgres@db.example.com:5432/postgres"
    run = pytest_in(project, "tests/integration/test_users.py", TEST_POSTGRES_URL=url)
    assert run.returncode == 1
    assert "TEST_SERVICES_ALLOW_REMOTE=1" in run.stdout


def test_unavailable_backend_skips_with_reason_or_fails_when_required(project: Path) -> None:
    # Pinned to docker on a machine without a daemon: nothing can supply the backends.
    env = {"DOCKER_HOST": "unix:///nonexistent.sock"}
    skipped = pytest_in(project, "-rs", "tests/integration", "--services=docker", **env)
    assert skipped.returncode == 0, skipped.stdout[-3000:]
    assert " passed" not in skipped.stdout.splitlines()[-1]
    assert "no Docker daemon answered at unix:///nonexistent.sock" in skipped.stdout
    assert "Fix: start a Docker daemon" in skipped.stdout

    required = pytest_in(project, "tests/integration", "--services=docker", CI="true", **env)
    assert required.returncode == 1
    assert "(--require-services is on)" in required.stdout
    assert " skipped" not in required.stdout.splitlines()[-1]


def test_bad_services_option_is_rejected_before_anything_runs(project: Path) -> None:
    run = pytest_in(project, "--services=postgres=podman")
    assert run.returncode != 0
    assert "unknown provider 'podman'" in run.stdout + run.stderr


def test_kill_9_of_pytest_leaves_no_server_or_run_directory(project: Path) -> None:
    (project / "tests" / "integration" / "test_zz_waits.py").write_text(
        "import time\n\n\ndef test_waits(db_session, redis_client):\n    time.sleep(120)\n"
    )
    try:
        proc = subprocess.Popen(
            [str(project / ".venv" / "bin" / "pytest"), "-p", "no:cacheprovider", "-n", "2"],
            cwd=project, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        run_dir = wait_for_run_dir(proc.pid)
        state = json.loads((run_dir / "postgres.json").read_text())
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 30
        while (run_dir.exists() or alive(state["pid"])) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not run_dir.exists()
        assert not alive(state["pid"])
    finally:
        (project / "tests" / "integration" / "test_zz_waits.py").unlink()


def wait_for_run_dir(owner: int) -> Path:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for base in (Path("/dev/shm"), Path("/tmp")):
            for run_dir in base.glob("pytest-services-*"):
                reaper = run_dir / "reaper.json"
                if (run_dir / "redis.json").exists() and (run_dir / "postgres.json").exists():
                    cmdline = Path(f"/proc/{json.loads(reaper.read_text())['pid']}/cmdline")
                    if str(owner).encode() in cmdline.read_bytes():
                        return run_dir
        time.sleep(0.1)
    raise AssertionError("the suite did not start its servers within 120 s")


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def test_pubsub_isolation_test_fails_without_the_namespace(project: Path) -> None:
    """Redis channels are server-wide: the generated isolation test passes with the
    per-test namespace and catches the cross-talk once the namespace is taken away."""
    test = "tests/integration/test_redis_channels.py"
    namespaced = pytest_in(project, "-p", "no:randomly", test, "-k", "another_tests_namespace")
    assert namespaced.returncode == 0, namespaced.stdout[-3000:]
    assert "1 passed" in namespaced.stdout

    module = project / "tests" / "support" / "redis_namespaces.py"
    original = module.read_text()
    prefixed = '    def channel(self, name: str) -> str:\n        return f"{self.prefix}:{name}"'
    assert prefixed in original
    bare_name = prefixed.replace('f"{self.prefix}:{name}"', "name")
    module.write_text(original.replace(prefixed, bare_name))
    try:
        bare = pytest_in(project, "-p", "no:randomly", test, "-k", "another_tests_namespace")
    finally:
        module.write_text(original)
    assert bare.returncode == 1, bare.stdout[-3000:]
    assert "cross-talk: another test's subscriber heard 'order-2 paid'" in bare.stdout


RABBITMQ_SPARES_FOREIGN_VHOSTS = """
import json, signal
from tests.support.processes import stop_process_group, _alive
from tests.support.rabbitmq import management_api, run_vhosts, start_local
from tests.support.run import Run
from tests.support.safety import UnsafeTarget

run = Run.create(1)
endpoint = start_local(run)
epmd = run.read_state("rabbitmq-epmd-process")["pid"]
api = management_api(endpoint)
ours = run_vhosts(run, endpoint)
made = ours.create()
# Someone else's vhosts: one with no relation to the run, one that copies our prefix
# but was not marked by this run on the server.
api.request("PUT", "vhosts/app_data", {"description": "the app's"})
lookalike = f"pgt_{run.id}_main_99"
api.request("PUT", f"vhosts/{lookalike}", {"description": "not ours"})
outcome = {}
try:
    ours.delete(lookalike)
except UnsafeTarget as error:
    outcome["refused"] = str(error)
ours.drop_all()
outcome["left"] = sorted(v["name"] for v in api.vhosts())
outcome["made"] = made
stop_process_group(endpoint.pid, signal.SIGTERM)
stop_process_group(epmd, signal.SIGKILL)
outcome["alive"] = [pid for pid in (endpoint.pid, epmd) if _alive(pid)]
run.remove()
print(json.dumps(outcome))
"""


def test_rabbitmq_deletes_only_vhosts_the_server_marks_as_this_runs(
    tmp_path_factory: pytest.TempPathFactory, rabbitmq_server_script: Path
) -> None:
    root = render(
        tmp_path_factory.mktemp("rabbitmq") / "project",
        python_version="3.11",
        backends=["rabbitmq"],
        test_layers=["unit"],
    )
    sync = subprocess.run(["uv", "sync", "-q"], cwd=root, env=clean_env(), capture_output=True)
    assert sync.returncode == 0, sync.stderr
    outcome = json.loads(python_in(root, RABBITMQ_SPARES_FOREIGN_VHOSTS).splitlines()[-1])

    assert "does not mark it as made by this run" in outcome["refused"]
    assert "app_data" in outcome["left"]
    assert any(name.endswith("_main_99") for name in outcome["left"])  # the lookalike
    assert outcome["made"] not in outcome["left"]  # ours, marked, was deleted
    assert outcome["alive"] == []  # the node and its own epmd are gone
