"""Our side of the peer comparison: the suite's own fixtures, one operation per test.

The peer's side is ``peer_bench/test_peer.py``: the same test names, the same work
(``SELECT 1`` on a fresh database, a query in a rolled-back session, one Redis SET).
"""

from __future__ import annotations

from typing import Any

import pytest

from .counts import repetitions


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


@pytest.mark.parametrize("i", repetitions("rollback_session", 200))
def test_rollback_session(db_session: Any, i: int) -> None:
    from sqlalchemy import text

    assert db_session.execute(text("SELECT 1")).scalar() == 1


@pytest.mark.parametrize("i", repetitions("redis_flush", 200))
def test_redis_flush(redis_client: Any, i: int) -> None:
    redis_client.set("bench", i)
