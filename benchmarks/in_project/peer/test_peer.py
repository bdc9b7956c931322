"""The peers' side: pytest-postgresql's ``postgresql``, the rollback recipe, pytest-redis'
``redisdb``; the same test names and work as ``tests/pg_bench/test_peer_ours.py``."""

from __future__ import annotations

from typing import Any

import pytest
from tests.pg_bench.counts import repetitions
from tests.pg_bench.workload import create_and_read_back_a_user


def test_warmup(postgresql: Any, peer_session: Any, redisdb: Any) -> None:
    assert postgresql.info.dbname


@pytest.mark.parametrize("i", repetitions("baseline", 200))
def test_baseline(i: int) -> None:
    """No fixture: what pytest and the autouse fixtures cost per test."""


@pytest.mark.parametrize("i", repetitions("clean_database", 200))
def test_clean_database(postgresql: Any, i: int) -> None:
    assert postgresql.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize("i", repetitions("clean_database_work", 200))
def test_clean_database_work(postgresql: Any, i: int) -> None:
    info = postgresql.info
    create_and_read_back_a_user(
        f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}", i
    )


@pytest.mark.parametrize("i", repetitions("rollback_session", 200))
def test_rollback_session(peer_session: Any, i: int) -> None:
    from sqlalchemy import text

    assert peer_session.execute(text("SELECT 1")).scalar() == 1


@pytest.mark.parametrize("i", repetitions("redis_flush", 200))
def test_redis_flush(redisdb: Any, i: int) -> None:
    redisdb.set("bench", i)
