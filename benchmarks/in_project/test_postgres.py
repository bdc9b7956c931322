"""Per-test cost of ``db_session`` (rollback) and ``clean_database`` (a cloned database).

``test_warmup`` pays for the server start and the migration, so the measured tests see
only per-test costs. Each body does one query, so the isolation is exercised.
"""

from __future__ import annotations

from typing import Any

import pytest

from .counts import repetitions


def test_warmup(db_session: Any, clean_database: str) -> None:
    assert clean_database


@pytest.mark.parametrize("i", repetitions("db_session", 200))
def test_db_session(db_session: Any, i: int) -> None:
    from sqlalchemy import text

    assert db_session.execute(text("SELECT 1")).scalar() == 1


@pytest.mark.parametrize("i", repetitions("clean_database", 50))
def test_clean_database(clean_database: str, i: int) -> None:
    import psycopg

    with psycopg.connect(clean_database) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
