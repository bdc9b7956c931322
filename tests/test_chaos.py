"""Crashes, signals, races and production data against a generated suite, for real.

One project with all five backends is rendered and installed for the module. Each
scenario runs its suite (with tests/chaos_plugin.py loaded) in a session of its own and
attacks it: kill -9 of pytest at four moments, kill -9 of the xdist worker that is
starting each backend's server, SIGINT, SIGTERM and SIGHUP, three first runs at once on
a cold cache, and runs against servers that hold an application's data. Each asserts
that nothing of the run is left: no process, no listening port, no run directory, no
data on a shared server, and not one byte of anybody else's data lost.

The checks look only at the runs a scenario started: their run id (every process a run
starts carries it in its environment, PYTEST_SERVICES_RUN) and the processes they
recorded, never at other suites running on the machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .conftest import render
from .test_generated_suites import find_python

pytestmark = pytest.mark.slow

BACKENDS = ["postgres", "redis", "mongo", "kafka", "s3"]
HERE = Path(__file__).resolve().parent
# The test the chaos points use: it takes the fixtures named in CHAOS_FIXTURES, leaves
# data in each, and waits at the point "mid-tests" when asked to.
CHAOS_TEST = '''"""A test for the template's chaos scenarios (tests/test_chaos.py there)."""

import os

import pytest

from tests.chaos_plugin import pause


def test_chaos_point(request: pytest.FixtureRequest) -> None:
    names = [name for name in os.environ.get("CHAOS_FIXTURES", "").split(",") if name]
    got = {name: request.getfixturevalue(name) for name in names}
    if "redis_client" in got:
        got["redis_client"].set("left", "by the chaos test")
    if "mongo_database" in got:
        got["mongo_database"]["left"].insert_one({"by": "the chaos test"})
    if "s3_bucket" in got:
        s3 = request.getfixturevalue("s3_client")
        s3.put_object(Bucket=got["s3_bucket"], Key="left", Body=b"by the chaos test")
    if "kafka_topic" in got:
        producer = request.getfixturevalue("kafka_producer")
        producer.produce(got["kafka_topic"], b"by the chaos test")
        producer.flush(10)
    if os.environ.get("CHAOS") == "mid-tests":
        pause("mid-tests")
'''
INTEGRATION = "tests/integration"
POINT_TEST = "tests/integration/test_zz_chaos.py"


@dataclass
class Project:
    root: Path
    env: dict[str, str]

    def python(self, *args: str) -> str:
        done = subprocess.run(
            ["uv", "run", "python", *args],
            cwd=self.root, env={**self.env, "PYTHONPATH": "."},
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, kafka_home: Path, ferretdb_binary: Path
) -> Project:
    root = render(
        tmp_path_factory.mktemp("chaos") / "project",
        backends=BACKENDS,
        python_version="3.11",
        test_layers=["unit", "integration"],
    )
    shutil.copy(HERE / "chaos_plugin.py", root / "tests" / "chaos_plugin.py")
    (root / POINT_TEST).write_text(CHAOS_TEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PYTEST_"))}
    for name in ("CI", "KAFKA_HOME", "DATABASE_URL", "REDIS_URL", "MONGODB_URL"):
        env.pop(name, None)
    env.update(
        UV_PYTHON=find_python("3.11"),
        UV_PYTHON_DOWNLOADS="never",
        VIRTUAL_ENV="",
        KAFKA_HOME=str(kafka_home),
        FERRETDB_BIN=str(ferretdb_binary),
    )
    sync = subprocess.run(["uv", "sync", "-q"], cwd=root, env=env, capture_output=True)
    assert sync.returncode == 0, sync.stderr
    return Project(root, env)


@dataclass
class Suite:
    """One run of the generated suite, in a session of its own."""

    process: subprocess.Popen[bytes]
    chaos: Path
    output: Path
    known: dict[int, int | None] = field(default_factory=dict)  # pid: start time
    ports: set[int] = field(default_factory=set)
    _watcher: threading.Thread | None = None

    def watch_lineage(self) -> None:
        """Remember every process started under pytest (workers, their replacements, the
        reaper), until pytest ends: whatever becomes of them, they must be gone after."""

        def watch() -> None:
            while self.process.poll() is None:
                for pid in descendants(self.process.pid):
                    self.known.setdefault(pid, started(pid))
                time.sleep(0.1)

        self._watcher = threading.Thread(target=watch, daemon=True)
        self._watcher.start()

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_for(self, point: str, timeout: float = 240) -> dict[str, Any]:
        path = self.chaos / f"{point}.json"
        deadline = time.monotonic() + timeout
        while not path.exists():
            if self.process.poll() is not None:
                pytest.fail(f"pytest ended before reaching {point}:\n{self.text()[-5000:]}")
            if time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(f"{point} not reached in {timeout:.0f} s:\n{self.text()[-5000:]}")
            time.sleep(0.02)
        info: dict[str, Any] = json.loads(path.read_text())
        return info

    @property
    def run(self) -> dict[str, Any]:
        info: dict[str, Any] = json.loads((self.chaos / "run.json").read_text())
        return info

    def snapshot(self) -> None:
        """Remember the run's processes and server ports, as recorded in its directory."""
        run_dir = Path(self.run["dir"])
        self.known[self.process.pid] = started(self.process.pid)
        for pid in descendants(self.process.pid):
            self.known.setdefault(pid, started(pid))
        for path in run_dir.glob("*.json"):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(record.get("pid"), int) and record.get("kind"):
                self.known[record["pid"]] = record.get("started")
            if record.get("provider") == "local":
                self.ports.add(port_of(record["url"]))

    def finish(self, timeout: float = 600) -> int:
        code = self.process.wait(timeout)
        if self._watcher is not None:
            self._watcher.join()
        return code


def start(project: Project, tmp_path: Path, *args: str, **env: str) -> Suite:
    chaos = tmp_path / f"chaos-{time.monotonic_ns()}"
    chaos.mkdir()
    output = chaos / "output.txt"
    with output.open("wb") as out:
        process = subprocess.Popen(
            [str(project.root / ".venv" / "bin" / "pytest"), "-p", "no:cacheprovider",
             "-p", "tests.chaos_plugin", "-p", "no:randomly", *args],
            cwd=project.root,
            env={**project.env, "PYTHONPATH": str(project.root), "CHAOS_DIR": str(chaos), **env},
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal would make
        )  # fmt: skip
    return Suite(process, chaos, output)


def started(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19])
    except (OSError, IndexError):
        return None


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def port_of(url: str) -> int:
    found = re.search(r":(\d+)(?:/|$)", url.rpartition("@")[2])
    assert found, url
    return int(found[1])


def run_processes(run_id: str, run_dir: Path, known: dict[int, int | None]) -> list[str]:
    """Live processes of the run: those started with its id in their environment or
    writing their output into its directory (Redis overwrites its environment with its
    process title), and the recorded ones (pytest, its workers, the reaper) that are
    still the same processes."""
    marker = f"PYTEST_SERVICES_RUN={run_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            stat = (entry / "stat").read_text()
            if stat.rpartition(")")[2].split()[0] == "Z":
                continue  # gone, waiting for its parent to collect the status
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        try:
            output = os.readlink(entry / "fd" / "1")
        except OSError:
            output = ""
        ours = marker in environ.split(b"\0") or output.startswith(f"{run_dir}/")
        if ours or (pid in known and started(pid) == known[pid]):
            found.append(f"{pid} {(entry / 'cmdline').read_bytes()[:120]!r}")
    return found


def listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def assert_nothing_left(suite: Suite, timeout: float = 30) -> float:
    """Wait until no process, port or directory of the run is left; return how long."""
    run_id, run_dir = suite.run["id"], Path(suite.run["dir"])
    begun = time.monotonic()
    while True:
        processes = run_processes(run_id, run_dir, suite.known)
        ports = sorted(port for port in suite.ports if listening(port))
        left = {"processes": processes, "ports": ports, "run_dir": run_dir.exists()}
        if not processes and not ports and not run_dir.exists():
            elapsed = time.monotonic() - begun
            print(f"chaos: run {run_id} left nothing, {elapsed:.2f} s after it ended")
            return elapsed
        if time.monotonic() - begun > timeout:
            pytest.fail(f"run {run_id} left {left}:\n{suite.text()[-3000:]}")
        time.sleep(0.05)


def kill_9(suite: Suite) -> None:
    suite.snapshot()
    suite.process.kill()
    suite.process.wait()


# kill -9 of pytest itself, at four moments of a run.
MOMENTS: dict[str, dict[str, str]] = {
    # pytest has just launched the Postgres server (a process group of its own, several
    # processes), which may not have recorded itself yet.
    "server-start": {
        "CHAOS": "controller-at-server-start", "CHAOS_TARGETS": "postgres",
        "args": f"-n 0 {INTEGRATION}/test_users.py",
    },
    # Tests are running on four local servers.
    "mid-tests": {
        "CHAOS": "mid-tests", "CHAOS_FIXTURES": "db_session,redis_client,mongo_database,s3_bucket",
        "args": f"-n 2 {POINT_TEST} {INTEGRATION}/test_cache.py",
    },
    # The end of the run has stopped one server of three.
    "teardown": {
        "CHAOS": "teardown", "CHAOS_FIXTURES": "db_session,redis_client,mongo_database",
        "args": f"-n 0 {POINT_TEST}",
    },
    # The servers are stopped; half of the run directory is removed.
    "final-removal": {
        "CHAOS": "final-removal", "CHAOS_FIXTURES": "db_session,redis_client",
        "args": f"-n 0 {POINT_TEST}",
    },
}  # fmt: skip


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_kill_9_of_pytest_leaves_nothing(project: Project, tmp_path: Path, moment: str) -> None:
    settings = dict(MOMENTS[moment])
    suite = start(project, tmp_path, *settings.pop("args").split(), **settings)
    suite.wait_for(moment)
    kill_9(suite)
    assert_nothing_left(suite)


def test_kill_9_of_the_worker_starting_each_server(project: Project, tmp_path: Path) -> None:
    """The worker starting each backend's server dies the moment the server process
    exists, before it has recorded itself; the next start must kill that server first."""
    suite = start(
        project, tmp_path, "-n", "2", "--max-worker-restart=10", INTEGRATION,
        CHAOS="worker-at-server-start", CHAOS_TARGETS=",".join(BACKENDS),
    )  # fmt: skip
    suite.watch_lineage()
    suite.wait_for("run")
    suite.snapshot()
    code = suite.finish()
    output = suite.text()
    crashed = re.findall(r"worker '(gw\d+)' crashed while running", output)
    assert code == 1, output[-5000:]
    assert len(crashed) == len(BACKENDS), output[-5000:]
    summary = output.strip().splitlines()[-1]
    assert f"{len(BACKENDS)} failed" in summary, output[-5000:]
    assert " passed" in summary, output[-5000:]
    assert "error" not in summary, output[-5000:]
    for backend in BACKENDS:
        assert suite.wait_for(f"worker-killed-{backend}", timeout=0)
        retried = suite.wait_for(f"retried-{backend}", timeout=0)
        assert retried["first_server_alive"] is False, backend
    assert_nothing_left(suite)


@pytest.mark.parametrize(
    ("sig", "group", "workers"),
    [(signal.SIGINT, True, "2"), (signal.SIGTERM, False, "0"), (signal.SIGHUP, True, "0")],
    ids=["SIGINT-to-the-group", "SIGTERM-to-pytest", "SIGHUP-to-the-group"],
)
def test_signals_leave_nothing(
    project: Project, tmp_path: Path, sig: signal.Signals, group: bool, workers: str
) -> None:
    """Ctrl-C and a closed terminal signal the whole process group; `kill` and CI
    runners signal pytest alone."""
    suite = start(
        project, tmp_path, "-n", workers, POINT_TEST, f"{INTEGRATION}/test_cache.py",
        CHAOS="mid-tests", CHAOS_FIXTURES="db_session,redis_client",
    )  # fmt: skip
    suite.wait_for("mid-tests")
    suite.snapshot()
    if group:
        os.killpg(suite.process.pid, sig)
    else:
        suite.process.send_signal(sig)
    code = suite.finish(timeout=120)
    if sig == signal.SIGINT:
        assert code == 2, suite.text()[-3000:]  # pytest's "interrupted"
    assert_nothing_left(suite)


def test_concurrent_first_runs_on_a_cold_cache(project: Project, tmp_path: Path) -> None:
    """Three first runs fill the Postgres cluster and Kafka's class archive and storage
    caches at once (each waits at the fill until all three are there): one run makes
    each entry, the others wait for it and use it, and no partial copy is left."""
    cache, barrier = tmp_path / "cache", tmp_path / "barrier"
    barrier.mkdir()
    env = {
        "CHAOS": "cold-cache", "CHAOS_BARRIER": "3", "CHAOS_BARRIER_DIR": str(barrier),
        "CHAOS_FIXTURES": "db_session,kafka_topic", "XDG_CACHE_HOME": str(cache),
    }  # fmt: skip
    suites = [start(project, tmp_path, "-n", "0", POINT_TEST, **env) for _ in range(3)]
    for suite in suites:
        suite.watch_lineage()
        suite.wait_for("run")
        suite.snapshot()
    for suite in suites:
        assert suite.finish() == 0, suite.text()[-3000:]
    for suite in suites:
        assert_nothing_left(suite)
    names = sorted(path.name for path in (cache / "pytest-services").iterdir())
    entries = [name for name in names if not name.startswith(".")]
    # Only the fills' lock files are hidden: no staging copy is left behind.
    assert all(name.endswith(".lock") for name in names if name.startswith(".")), names
    kinds = [re.sub(r"-[0-9a-f]{12}(\.\w+)?$", "", name) for name in entries]
    assert kinds == ["kafka-jvm", "kafka-storage", "postgres"], entries
    for entry in entries:
        makers = [suite for suite in suites if (suite.chaos / f"made-{entry}.json").exists()]
        assert len(makers) == 1, entry
    for entry in ("kafka-jvm", "postgres"):  # the two the three runs raced for
        name = next(name for name in entries if name.startswith(entry))
        assert all(suite.wait_for(f"reached-{name}", timeout=0) for suite in suites), name


@dataclass
class SharedServers:
    """Servers the suite did not start, holding an application's data."""

    urls: dict[str, str]
    project: Project

    def dump(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.data("dump"))
        return found

    def leftovers(self, run_id: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = json.loads(self.data("leftovers", run_id))
        return found

    def data(self, command: str, *args: str) -> str:
        script = str(HERE / "foreign_data.py")
        return self.project.python(script, command, json.dumps(self.urls), *args)

    def env(self) -> dict[str, str]:
        return {f"TEST_{name.upper()}_URL": url for name, url in self.urls.items()}


@pytest.fixture(scope="module")
def shared_servers(project: Project) -> Iterator[SharedServers]:
    holder = subprocess.Popen(
        ["uv", "run", "python", str(HERE / "outside_servers.py"), *BACKENDS],
        cwd=project.root, env={**project.env, "PYTHONPATH": "."},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None
    assert holder.stdin is not None
    started = json.loads(holder.stdout.readline())
    servers = SharedServers(started["urls"], project)
    servers.data("seed", str(holder.pid))
    yield servers
    holder.stdin.close()
    holder.wait(60)


def test_production_data_survives_a_kill_9_and_the_next_run(
    shared_servers: SharedServers, project: Project, tmp_path: Path
) -> None:
    """A run killed mid-tests leaves its databases, claims, topics and buckets on the
    shared servers; the next run removes them, and nothing else, byte for byte."""
    before = shared_servers.dump()
    everything = "db_session,clean_database,redis_client,mongo_database,kafka_topic,s3_bucket"
    killed = start(
        project, tmp_path, "-n", "2", POINT_TEST, f"{INTEGRATION}/test_cache.py",
        CHAOS="mid-tests", CHAOS_FIXTURES=everything, **shared_servers.env(),
    )  # fmt: skip
    killed.wait_for("mid-tests")
    kill_9(killed)
    assert_nothing_left(killed)
    left = shared_servers.leftovers(killed.run["id"])
    assert all(left.values()), left  # what the issue saw: leftovers on every backend
    assert shared_servers.dump() == before

    later = start(
        project, tmp_path, "-n", "0", POINT_TEST, f"{INTEGRATION}/test_cache.py",
        CHAOS_FIXTURES=everything, **shared_servers.env(),
    )  # fmt: skip
    later.watch_lineage()
    later.wait_for("run")
    later.snapshot()
    assert later.finish() == 0, later.text()[-5000:]
    assert_nothing_left(later)
    for run in (killed, later):
        left = shared_servers.leftovers(run.run["id"])
        assert not any(left.values()), left
    assert shared_servers.dump() == before


def test_guard_refuses_the_apps_servers_and_dead_urls(
    shared_servers: SharedServers, project: Project, tmp_path: Path
) -> None:
    """Outside CI too: a test URL on the application's server (spelt differently), or
    one where nothing answers, is an error that names the fix; nothing is touched."""
    before = shared_servers.dump()
    urls = shared_servers.urls
    redis_port, pg_port = port_of(urls["redis"]), port_of(urls["postgres"])
    with __import__("socket").socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    env = {
        **shared_servers.env(),
        # One server, two database indexes, two spellings of this machine.
        "REDIS_URL": f"redis://localhost:{redis_port}/1",
        "TEST_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "DATABASE_URL": f"postgresql://postgres@localhost:{pg_port}/postgres",
        "KAFKA_BOOTSTRAP_SERVERS": urls["kafka"].replace("127.0.0.1", "[::1]"),
        "AWS_ENDPOINT_URL": urls["s3"].replace("127.0.0.1", "localhost") + "/",
        "TEST_MONGO_URL": f"mongodb://127.0.0.1:{dead}",
        "TEST_SERVICES_WAIT": "0.5",
    }
    backend_tests = " or ".join(BACKENDS)  # every test that uses a server
    suite = start(project, tmp_path, "-n", "0", "-m", backend_tests, INTEGRATION, **env)
    assert suite.finish() == 1
    output = suite.text()
    assert " passed" not in output.strip().splitlines()[-1], output[-3000:]
    expected = [
        f"TEST_REDIS_URL points at the same server as REDIS_URL (127.0.0.1:{redis_port} and "
        f"localhost:{redis_port}): the suite flushes whole databases",
        "TEST_POSTGRES_URL points at the same database as DATABASE_URL ('postgres' on",
        "TEST_KAFKA_URL points at the same server as KAFKA_BOOTSTRAP_SERVERS",
        "TEST_S3_URL points at the same server as AWS_ENDPOINT_URL",
        f"TEST_MONGO_URL is set but nothing answers at 127.0.0.1:{dead}. Fix: start the "
        "server or unset TEST_MONGO_URL",
    ]
    for message in expected:
        assert message in output, output[-5000:]
    assert shared_servers.dump() == before


ALLOWED = "use one of url, local, docker, auto, or backend=provider for a backend of this "
ALLOWED += "project (postgres, redis, mongo, kafka, s3)"
BAD_SERVICES = {
    "oracle=local": f"--services: unknown backend 'oracle' in 'oracle=local'; {ALLOWED}",
    "redis=podman": f"--services: unknown provider 'podman' in 'redis=podman'; {ALLOWED}",
    "redis=": f"--services='redis=': empty value in 'redis='; {ALLOWED}",
    "local,,": f"--services='local,,': empty value in 'local,,'; {ALLOWED}",
    "postgres=url,postgres=local": (
        "--services='postgres=url,postgres=local': backend 'postgres' is given twice; give it once"
    ),
    "local,docker": "--services='local,docker': the default provider is given twice; give it once",
}


def test_bad_services_values_are_usage_errors(project: Project, tmp_path: Path) -> None:
    """pytest stops with a usage error (exit 4, not an INTERNALERROR) naming the bad part;
    two values go through pytest, every one through the parser pytest calls."""
    for value in ("oracle=local", "postgres=url,postgres=local"):
        suite = start(project, tmp_path, f"--services={value}", "tests/unit")
        assert suite.finish() == 4, suite.text()
        output = suite.text()
        assert f"ERROR: {BAD_SERVICES[value]}" in output, output
        assert "INTERNALERROR" not in output, output
    check = (
        "import json, sys\n"
        "from tests.support.providers import parse_pins\n"
        "for value in json.loads(sys.argv[1]):\n"
        "    try:\n"
        "        parse_pins(value, ['postgres', 'redis', 'mongo', 'kafka', 's3'])\n"
        "    except ValueError as error:\n"
        "        print(json.dumps(str(error)))\n"
        "    else:\n"
        "        print(json.dumps(None))\n"
    )
    printed = project.python("-c", check, json.dumps(list(BAD_SERVICES))).splitlines()
    assert [json.loads(line) for line in printed] == list(BAD_SERVICES.values())
