"""Our side of the peer comparison: the suite's own fixtures, one operation per test.

The peer's side is ``peer_bench/test_peer.py``: the same test names, the same work
(``SELECT 1`` on a fresh database, a row written and read back on a fresh database, a
query in a rolled-back session, one Redis SET). ``test_server_clone_floor`` is ours
alone: the server's own clone + drop rate, on the run's template.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest

from .counts import repetitions
from .test_floors import record
from .workload import create_and_read_back_a_user


def test_warmup(clean_database: str, db_session: Any, redis_client: Any) -> None:
    assert clean_database


@pytest.mark.parametrize("i", repetitions("baseline", 200))
def test_baseline(i: int) -> None:
    """No fixture: what pytest and the autouse fixtures cost per test."""


@pytest.mark.parametrize("i", repetitions("clean_database", 200))
def test_clean_database(clean_database: str, i: int) -> None:
    import psycopg

    with psycopg.connect(clean_database) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize("i", repetitions("clean_database_work", 200))
def test_clean_database_work(clean_database: str, i: int) -> None:
    create_and_read_back_a_user(clean_database, i)


@pytest.mark.parametrize("i", repetitions("rollback_session", 200))
def test_rollback_session(db_session: Any, i: int) -> None:
    from sqlalchemy import text

    assert db_session.execute(text("SELECT 1")).scalar() == 1


@pytest.mark.parametrize("i", repetitions("redis_flush", 200))
def test_redis_flush(redis_client: Any, i: int) -> None:
    redis_client.set("bench", i)


def test_server_clone_floor(postgres_databases: Any) -> None:
    """The server's own rate: ``CREATE DATABASE ... TEMPLATE ... STRATEGY FILE_COPY`` (as
    the pool clones) then ``DROP DATABASE``, on the run's migrated template, by 1, 2 and
    3 connections at once; milliseconds per database (wall time / databases)."""
    import psycopg
    from psycopg import sql

    template = sql.Identifier(postgres_databases.template)
    each = int(os.environ.get("BENCH_N_FLOORS", "20"))

    def clone_and_drop(thread: int) -> None:
        with psycopg.connect(postgres_databases.server_url, autocommit=True) as admin:
            for i in range(each):
                name = sql.Identifier(f"{postgres_databases.prefix}floor_{thread}_{i}")
                admin.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                        name, template
                    )
                )
                admin.execute(sql.SQL("DROP DATABASE {}").format(name))

    per_database: dict[str, list[float]] = {}
    for threads in (1, 2, 3):
        workers = [threading.Thread(target=clone_and_drop, args=(t,)) for t in range(threads)]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed_ms = (time.perf_counter() - started) * 1000
        per_database[f"server_clone_drop_{threads}"] = [elapsed_ms / (threads * each)]
    record(**per_database)
